package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const signedStores = `stores:
  - name: e2e-signed
    type: woocommerce
`

// TestServeAppliesOnlySignedCommits: with --verify-signatures (here
// $STOREOPS_VERIFY_SIGNATURES) serve applies a commit signed by a key of
// the keyring, refuses an unsigned one pushed on top (the status says
// why, with its commit; the signed revision stays in force and nothing
// of the unsigned one is applied), then applies the next signed commit.
// plan and sync --once refuse the unsigned head as well.
func TestServeAppliesOnlySignedCommits(t *testing.T) {
	cleanupStores(t, "e2e-signed", "e2e-unsigned")
	c := testcluster.Get(t)
	signer := gittest.NewSigner(t, "release manager")
	keyring := filepath.Join(t.TempDir(), "keys.asc")
	if err := os.WriteFile(keyring, signer.PublicKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "signed", map[string]string{"README": "signed config\n"})
	signed := repo.CommitSigned(t, map[string]string{"stores.yaml": signedStores}, "Add e2e-signed", signer.Sign)

	d := startDaemonEnv(t, []string{"STOREOPS_VERIFY_SIGNATURES=" + keyring}, repo.URL())
	d.waitUntil("the signed revision in force", func() bool {
		s := d.status()
		return s.Revision == signed && s.Refused == nil
	})
	if _, ok := d.store("e2e-signed"); !ok {
		t.Fatal("e2e-signed is not in the status")
	}

	unsigned := repo.Commit(t, map[string]string{"stores.yaml": signedStores + "  - name: e2e-unsigned\n    type: woocommerce\n"}, "Add e2e-unsigned, unsigned")
	d.push("main", unsigned)
	d.waitUntil("the unsigned revision refused", func() bool {
		s := d.status()
		return s.Refused != nil && s.Refused.Reason == "UntrustedRevision"
	})
	s := d.status()
	want := "revision " + unsigned[:12] + " is not signed by a trusted key: the commit is not signed; the last good revision stays applied"
	if s.Revision != signed || s.Refused.Message != want {
		t.Fatalf("status after an unsigned push: revision %s (want %s), refused %+v (want %q)", s.Revision, signed, s.Refused, want)
	}
	if st, ok := d.store("e2e-unsigned"); ok {
		t.Fatalf("the unsigned revision's store is in the status: %+v", st)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(t.Context(), "store-e2e-unsigned", metav1.GetOptions{}); err == nil {
		t.Fatal("the unsigned revision's store namespace exists")
	}

	// plan and sync --once read the same head and refuse it too.
	code, out := run(t, "plan", "--git-url", repo.URL(), "--kubeconfig", c.Kubeconfig, "--verify-signatures", keyring)
	if code != 1 || !strings.Contains(out, "REFUSED: revision "+unsigned[:12]+" is not signed by a trusted key") {
		t.Fatalf("plan of the unsigned head: exit %d\n%s", code, out)
	}
	code, out = run(t, "sync", "--once", "--git-url", repo.URL(), "--kubeconfig", c.Kubeconfig, "--verify-signatures", keyring)
	if code != 1 || !strings.Contains(out, "revision "+unsigned[:12]+" is not signed by a trusted key") {
		t.Fatalf("sync --once of the unsigned head: exit %d\n%s", code, out)
	}

	again := repo.CommitSigned(t, map[string]string{"stores.yaml": signedStores + "# signed again\n"}, "Signed again", signer.Sign)
	d.push("main", again)
	d.waitUntil("the next signed revision in force", func() bool {
		s := d.status()
		return s.Revision == again && s.Refused == nil
	})
}

// TestServeRefusesAKeyringThatDoesNotParse: serve does not start, and
// says which file is wrong.
func TestServeRefusesAKeyringThatDoesNotParse(t *testing.T) {
	c := testcluster.Get(t)
	bad := filepath.Join(t.TempDir(), "keys.asc")
	if err := os.WriteFile(bad, []byte("not a keyring\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "badkeys", map[string]string{"stores.yaml": signedStores})
	code, out := run(t, "serve", "--git-url", repo.URL(), "--kubeconfig", c.Kubeconfig, "--listen", freeAddr(t), "--verify-signatures", bad)
	if code != 1 || !strings.Contains(out, bad) {
		t.Fatalf("serve with a bad keyring: exit %d\n%s", code, out)
	}
}
