package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestEveryCommandHasExamplesAndEnv: each command's -h ends with examples
// and the rule of the environment variables.
func TestEveryCommandHasExamplesAndEnv(t *testing.T) {
	for _, name := range []string{"adopt", "completion", "confirm-deletions", "confirm-move", "get", "plan", "reconcile", "schema", "serve", "sync", "validate", "version"} {
		code, _, stderr := runCLI(t, name, "-h")
		if code != exitOK || !strings.Contains(stderr, "\nExamples:\n  ") || !strings.Contains(stderr, "$STOREOPS_LOG_LEVEL") {
			t.Errorf("storeops %s -h: exit %d\n%s", name, code, stderr)
		}
	}
}

// TestFlagsFromEnvironment: $STOREOPS_<FLAG> sets a flag the command line
// does not give; the command line wins; a bad value is a usage error.
func TestFlagsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("stores:\n  - name: a\n    type: shopify\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STOREOPS_FILE", bad)
	t.Setenv("STOREOPS_OUTPUT", "json")
	code, stdout, _ := runCLI(t, "validate")
	if code != exitFailed || !strings.Contains(stdout, `"valid": false`) {
		t.Fatalf("validate from the environment: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := runCLI(t, "validate", "-f", "../../stores.example.yaml", "-o", "text"); code != exitOK || !strings.Contains(stdout, "valid, 3 stores") {
		t.Fatalf("the command line must win: exit %d\n%s", code, stdout)
	}
	t.Setenv("STOREOPS_MAX_STORES", "many")
	if code, _, stderr := runCLI(t, "validate"); code != exitUsage || !strings.Contains(stderr, "$STOREOPS_MAX_STORES") {
		t.Fatalf("bad variable: exit %d\n%s", code, stderr)
	}
}

// TestUsageErrorsAreNotChanges: plan's 2 means "changes"; a bad command
// line is 64.
func TestUsageErrorsAreNotChanges(t *testing.T) {
	for _, args := range [][]string{{"plan", "--no-such-flag"}, {"plan", "-o", "xml"}, {"plan", "--log-format", "xml"}, {"bogus"}, {}} {
		if code, _, _ := runCLI(t, args...); code != exitUsage || code == exitChanges {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, _ := runCLI(t, "version", "-o", "json")
	var v struct{ Version, GoVersion, Platform string }
	if code != exitOK || json.Unmarshal([]byte(stdout), &v) != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") || v.Platform == "" {
		t.Fatalf("version -o json: exit %d\n%s", code, stdout)
	}
}

func TestSchemaCommand(t *testing.T) {
	code, stdout, _ := runCLI(t, "schema")
	var s map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &s) != nil || s["$schema"] == nil || s["properties"] == nil {
		t.Fatalf("schema: exit %d\n%s", code, stdout)
	}
}

// TestKlogThroughSlog: client-go's klog lines come out of the same
// handler, so a JSON log stays JSON.
func TestKlogThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	if _, err := newLogger(&buf, "info", "json"); err != nil {
		t.Fatal(err)
	}
	defer klog.ClearLogger()
	klog.InfoS("from client-go", "key", "value")
	klog.Flush()
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil || line["msg"] != "from client-go" || line["key"] != "value" {
		t.Fatalf("klog line %q: %v", buf.String(), err)
	}
}
