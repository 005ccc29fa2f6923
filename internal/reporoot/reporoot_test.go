package reporoot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/reporoot"
)

func TestFind(t *testing.T) {
	want, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reporoot.Find(); err != nil || got != want {
		t.Errorf("Find = %q, %v; want %q", got, err, want)
	}
}

// A go.mod of another module is passed over; outside the repository
// there is no root.
func TestFindOtherModule(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if got, err := reporoot.Find(); err == nil || !strings.Contains(err.Error(), reporoot.Module) {
		t.Errorf("Find = %q, %v; want an error naming %s", got, err, reporoot.Module)
	}
}
