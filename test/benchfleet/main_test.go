// Package benchfleet measures storeops against a fleet of stores on the
// local control plane's bench profile (raised controller QPS, several fake
// nodes), beside a reference: a plain client-go program creating exactly
// the objects those stores consist of, rendered from the same charts, with
// the same parallelism, on the same cluster, in the same run. Figures, not
// assertions: `make bench-fleet` prints them as a table and appends it to
// BENCHMARKS.md.
package benchfleet_test

import (
	"flag"
	"os"
	"testing"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/storeopsbin"
	"github.com/storeops/storeops/internal/testcluster"
)

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		// No benchmark asked for (go test ./...): no binary, no cluster.
		os.Exit(m.Run())
	}
	os.Exit(storeopsbin.Main(m, &binary, testcluster.MainWith(testcluster.WithProfile(devcluster.Bench))))
}
