package forge_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/storeops/storeops/forge"
)

func TestTokenFromEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == forge.EnvToken {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name, file, env, want string
		err                   bool
	}{
		{name: "file", file: file, want: "from-file"},
		{name: "env", env: "from-env", want: "from-env"},
		{name: "none"},
		{name: "both", file: file, env: "from-env", err: true},
		{name: "empty file", file: empty, err: true},
		{name: "missing file", file: filepath.Join(dir, "nope"), err: true},
	}
	for _, tt := range tests {
		got, err := forge.TokenFromEnvAndFile(tt.file, env(tt.env))
		if tt.err != errors.Is(err, forge.ErrConfig) || got != tt.want {
			t.Errorf("%s: %q, %v", tt.name, got, err)
		}
	}
}
