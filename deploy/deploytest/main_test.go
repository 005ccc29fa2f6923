package deploytest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/storeops/storeops/internal/testcluster"
)

// binary is the storeops binary built for this test run ("" under -short,
// where no test needs it).
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(testcluster.Main(m))
	}
	dir, err := os.MkdirTemp("", "storeops-deploytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "storeops")
	build := exec.Command("go", "build", "-o", binary, "github.com/storeops/storeops/cmd/storeops")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build storeops:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := testcluster.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
