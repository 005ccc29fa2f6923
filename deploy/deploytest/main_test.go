package deploytest

import (
	"flag"
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
	os.Exit(storeopsbin.Main(m, &binary, testcluster.Main))
}
