package intake

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
)

// signedFixture is a fixture whose Intake trusts the commits of signer
// only, counting verifications. The repository's first commit is
// unsigned; Head is a signed one on top.
type signedFixture struct {
	*fixture
	signer   *gittest.Signer
	verifies int
}

func newSignedFixture(t *testing.T, cacheDir string) *signedFixture {
	t.Helper()
	f := &signedFixture{fixture: newFixture(t, storesA, cacheDir), signer: gittest.NewSigner(t, "release manager")}
	f.repo.CommitSigned(t, map[string]string{"stores.yaml": storesA + "# signed\n"}, "Signed", f.signer.Sign)
	f.trust(f.in)
	return f
}

// trust makes in verify with the fixture's key.
func (f *signedFixture) trust(in *Intake) {
	keys, err := gitsource.ParseKeyRing(f.signer.PublicKey(f.t))
	if err != nil {
		f.t.Fatalf("ParseKeyRing: %v", err)
	}
	in.cfg.Verify = func(snap gitsource.Snapshot) error {
		f.verifies++
		return keys.Verify(snap)
	}
}

// refusedUntrusted checks that calls are the refusal of rev as not signed
// by a trusted key, for why, then the last good revision applied with
// that refusal held.
func (f *signedFixture) refusedUntrusted(what string, calls []call, rev, good, why string) {
	f.t.Helper()
	f.expect(what, calls, []call{
		{Kind: "refuse", Revision: rev, Trigger: "webhook", Refusal: some},
		{Kind: "apply", Revision: good, Trigger: "webhook", Stores: []string{"alpha"}, Held: some},
	})
	r := calls[0].Refusal
	prefix := "revision " + rev[:12] + " is not signed by a trusted key: "
	if r.Reason != ReasonUntrustedRevision || !strings.HasPrefix(r.Message, prefix) ||
		!strings.Contains(r.Message, why) || !strings.HasSuffix(r.Message, "; the last good revision stays applied") {
		f.t.Fatalf("%s: refusal %+v, want %s with %q...%q", what, r, ReasonUntrustedRevision, prefix, why)
	}
	if calls[1].Held != r {
		f.t.Fatalf("%s: held %+v, want the refusal", what, calls[1].Held)
	}
}

func TestUntrustedRevisionsRefusedOnceWhileTheSignedOneStays(t *testing.T) {
	f := newSignedFixture(t, "")
	good := f.repo.Head(t, "main")
	f.expect("the signed commit", f.sync("start"), []call{
		{Kind: "apply", Revision: good, Trigger: "start", Stores: []string{"alpha"}},
	})
	f.hooks.take()

	stranger := gittest.NewSigner(t, "stranger")
	for _, tc := range []struct {
		name string
		sign func([]byte) string // nil: unsigned
		why  string
	}{
		{"unsigned", nil, "the commit is not signed"},
		{"signed by an unknown key", stranger.Sign, "which is not in the keyring"},
		{"tampered", f.signer.Tampered, "bad signature"},
	} {
		files := map[string]string{"stores.yaml": storesAB + "# " + tc.name + "\n"}
		var bad string
		if tc.sign == nil {
			bad = f.repo.Commit(t, files, tc.name)
		} else {
			bad = f.repo.CommitSigned(t, files, tc.name, tc.sign)
		}
		parses, verifies := f.parses, f.verifies
		f.refusedUntrusted(tc.name, f.sync("webhook"), bad, good, tc.why)
		if got, want := f.hooks.take(), []string{"refused " + bad, "picked " + good, "applied " + good}; !cmp.Equal(got, want) {
			t.Fatalf("%s: hooks = %q, want %q", tc.name, got, want)
		}
		if f.parses != parses {
			t.Fatalf("%s: an untrusted revision was parsed", tc.name)
		}
		if f.verifies != verifies+1 {
			t.Fatalf("%s: %d verifications, want 1", tc.name, f.verifies-verifies)
		}
		// Polling it: the signed revision stays applied with the
		// refusal held; nothing fetched, verified or reported again.
		for range 2 {
			f.srv.ResetCounts()
			calls := f.sync("schedule")
			f.expect(tc.name+": polling", calls, []call{
				{Kind: "apply", Revision: good, Trigger: "schedule", Stores: []string{"alpha"}, Held: some},
			})
			if calls[0].Held.Reason != ReasonUntrustedRevision {
				t.Fatalf("%s: held %+v", tc.name, calls[0].Held)
			}
			f.expectCounts(tc.name+": polling", 1, 0)
		}
		if f.verifies != verifies+1 || f.parses != parses {
			t.Fatalf("%s: polling verified %d and parsed %d more times", tc.name, f.verifies-verifies-1, f.parses-parses)
		}
		if got := f.hooks.take(); slicesContainPrefix(got, "refused") {
			t.Fatalf("%s: hooks while polling: %q", tc.name, got)
		}
	}

	// Signed again: applied.
	signed := f.repo.CommitSigned(t, map[string]string{"stores.yaml": storesAB}, "Signed again", f.signer.Sign)
	f.expect("signed again", f.sync("webhook"), []call{
		{Kind: "apply", Revision: signed, Trigger: "webhook", Stores: []string{"alpha", "beta"}},
	})
	verifies := f.verifies
	f.expect("polling it", f.sync("schedule"), []call{
		{Kind: "apply", Revision: signed, Trigger: "schedule", Stores: []string{"alpha", "beta"}},
	})
	if f.verifies != verifies {
		t.Fatal("the revision in force was verified again")
	}
}

// Without a trusted revision nothing is applied.
func TestUntrustedFirstRevision(t *testing.T) {
	f := newFixture(t, storesA, "")
	unsigned := f.repo.Head(t, "main")
	sf := &signedFixture{fixture: f, signer: gittest.NewSigner(t, "release manager")}
	sf.trust(f.in)
	calls := f.sync("start")
	f.expect("the unsigned first commit", calls, []call{{Kind: "refuse", Revision: unsigned, Trigger: "start", Refusal: some}})
	if r := calls[0].Refusal; r.Reason != ReasonUntrustedRevision || !strings.Contains(r.Message, unsigned[:12]) {
		t.Fatalf("refusal %+v", r)
	}
	f.expect("polling", f.sync("schedule"), nil)
}

// A restart while Git is down does not serve an untrusted revision from
// the cache: the refused commit is the one the cache last fetched.
func TestCacheFallbackVerifies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	f := newSignedFixture(t, dir)
	good := f.repo.Head(t, "main")
	f.sync("start")
	bad := f.repo.Commit(t, map[string]string{"stores.yaml": storesAB}, "Unsigned")
	f.refusedUntrusted("the unsigned commit", f.sync("webhook"), bad, good, "not signed")

	f.srv.Stop()
	f.in = f.newIntake(f.newSource(dir))
	f.trust(f.in)
	calls := f.sync("start")
	f.expect("a start with Git down", calls, []call{{Kind: "refuse", Trigger: "start", Refusal: some}})
	if r := calls[0].Refusal; r.Reason != ReasonSourceUnavailable || strings.Contains(r.Message, "from the cache") {
		t.Fatalf("refusal %+v", r)
	}
	if f.parses != 0 {
		t.Fatalf("the untrusted cached revision was parsed")
	}
}
