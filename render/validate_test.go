package render_test

import (
	"os"
	"strings"
	"testing"

	"github.com/storeops/storeops/render"
)

// hostCase is one line of testdata/hosts.tsv.
type hostCase struct {
	host       string
	api, store bool // accepted by the API server as an Ingress host; as a store's domain
}

func readHostCases(t *testing.T) []hostCase {
	t.Helper()
	data, err := os.ReadFile("testdata/hosts.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var out []hostCase
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("hosts.tsv: bad line %q", line)
		}
		out = append(out, hostCase{f[0], f[1] == "accept", f[2] == "accept"})
	}
	return out
}

// TestCheckDomainTable checks CheckIngressHost against what the API server
// says of each host (charts' TestIngressHostsOnAPIServer asks a real one),
// and that CheckDomain never accepts a domain the API server refuses.
func TestCheckDomainTable(t *testing.T) {
	cases := readHostCases(t)
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		if got := render.CheckIngressHost(c.host) == ""; got != c.api {
			t.Errorf("CheckIngressHost(%q) accepted=%v, the API server: %v (%s)", c.host, got, c.api, render.CheckIngressHost(c.host))
		}
		msg := render.CheckDomain(c.host)
		if got := msg == ""; got != c.store {
			t.Errorf("CheckDomain(%q) accepted=%v, want %v (%s)", c.host, got, c.store, msg)
		}
		if msg == "" && render.CheckIngressHost(strings.ToLower(c.host)) != "" {
			t.Errorf("CheckDomain accepts %q, which the API server refuses", c.host)
		}
	}
}
