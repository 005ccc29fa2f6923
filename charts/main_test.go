package charts_test

import (
	"flag"
	"os"
	"testing"

	"github.com/storeops/storeops/internal/testcluster"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
