package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateExitCodesAndOutput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "stores.yaml")
	if err := os.WriteFile(bad, []byte("stores:\n  - name: My_Shop\n    type: woocommerce\n  - name: ok\n    type: shopify\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"validate", "-f", "../../stores.example.yaml"}, 0, "valid, 3 stores", ""},
		{[]string{"validate", "-f", bad}, 1, "", `stores.yaml:2:11: stores[0].name: "My_Shop" is not a DNS label`},
		{[]string{"validate", "-f", bad}, 1, "", `stores.yaml:5:11: stores[1].type: unknown store type "shopify"`},
		{[]string{"validate", "-f", filepath.Join(dir, "missing.yaml")}, 1, "", "no such file"},
		{[]string{"validate", "-o", "xml"}, exitUsage, "", "-o must be one of"},
		{[]string{"bogus"}, exitUsage, "", `unknown command "bogus"`},
		{[]string{"version"}, 0, "storeops ", ""},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", tt.args, code, tt.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%v:\nstdout: %s\nstderr: %s", tt.args, stdout.String(), stderr.String())
		}
	}
}

func TestValidateJSON(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "stores.yaml")
	if err := os.WriteFile(bad, []byte("stores:\n  - name: a\n    type: woocommerce\n    plan: xl\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"validate", "-o", "json", "-f", bad}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d", code)
	}
	var res struct {
		Valid  bool
		Errors []struct {
			Line, Column int
			Field        string
			Message      string
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.Valid || len(res.Errors) != 1 || res.Errors[0].Line != 4 || res.Errors[0].Column != 11 || res.Errors[0].Field != "stores[0].plan" {
		t.Errorf("%+v", res)
	}
}
