package deploytest

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/storeops/storeops/internal/storeopsbin"
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
	var cleanup func()
	var err error
	if binary, cleanup, err = storeopsbin.Build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := testcluster.Main(m)
	cleanup()
	os.Exit(code)
}
