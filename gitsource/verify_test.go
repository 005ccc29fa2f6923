package gitsource_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
)

func keyRing(t *testing.T, signers ...*gittest.Signer) *gitsource.KeyRing {
	t.Helper()
	var armored []byte
	for _, s := range signers {
		armored = append(armored, s.PublicKey(t)...)
	}
	k, err := gitsource.ParseKeyRing(armored)
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	return k
}

func TestVerify(t *testing.T) {
	trusted, other, second := gittest.NewSigner(t, "trusted"), gittest.NewSigner(t, "other"), gittest.NewSigner(t, "second")
	keys := keyRing(t, trusted, second)
	if n := len(keys.Fingerprints()); n != 2 {
		t.Fatalf("%d keys in the keyring, want 2", n)
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "stores", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL(), Dir: filepath.Join(t.TempDir(), "cache")})

	for _, tc := range []struct {
		name string
		sign func([]byte) string // nil: unsigned
		want string              // "" trusted, or in the error
	}{
		{"signed by a trusted key", trusted.Sign, ""},
		{"signed by the keyring's second key", second.Sign, ""},
		{"unsigned", nil, "is not signed by a trusted key: the commit is not signed"},
		{"signed by another key", other.Sign, "is not signed by a trusted key: signed by key "},
		{"tampered", trusted.Tampered, "is not signed by a trusted key: bad signature: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rev string
			if tc.sign == nil {
				rev = repo.Commit(t, map[string]string{"stores.yaml": storesV1 + "# " + tc.name + "\n"}, tc.name)
			} else {
				rev = repo.CommitSigned(t, map[string]string{"stores.yaml": storesV1 + "# " + tc.name + "\n"}, tc.name, tc.sign)
			}
			snap := fetch(t, src)
			if snap.Revision != rev {
				t.Fatalf("fetched %s, want %s", snap.Revision, rev)
			}
			err := keys.Verify(snap)
			t.Logf("Verify: %v", err)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Verify: %v, want trusted", err)
			case tc.want == "":
				return
			case err == nil:
				t.Fatalf("Verify trusted it, want %q", tc.want)
			case !errors.Is(err, gitsource.ErrUntrusted):
				t.Fatalf("Verify: %v, want ErrUntrusted", err)
			case !strings.HasPrefix(err.Error(), "revision "+rev[:12]+" ") || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Verify: %q, want revision %s and %q", err, rev[:12], tc.want)
			}
			if tc.name == "signed by another key" {
				fp := other.Entity.PrimaryKey.Fingerprint
				if !strings.Contains(err.Error(), fmt.Sprintf("%X", fp)) {
					t.Fatalf("Verify: %q does not name the signing key %X", err, fp)
				}
			}
			// Cached (after a restart) carries the same commit.
			cached, err := newSource(t, src.Config()).Cached()
			if err != nil {
				t.Fatalf("Cached: %v", err)
			}
			if err := keys.Verify(cached); err == nil {
				t.Fatal("the cached snapshot of an untrusted commit verified")
			}
		})
	}
}

// Verify checks the commit named by the snapshot's Revision: the commit
// object of another revision, or none, is no proof.
func TestVerifyNeedsTheRevisionsCommit(t *testing.T) {
	signer := gittest.NewSigner(t, "trusted")
	keys := keyRing(t, signer)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "stores", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	repo.CommitSigned(t, map[string]string{"stores.yaml": storesV1 + "# signed\n"}, "Signed", signer.Sign)
	signed := fetch(t, src)
	if err := keys.Verify(signed); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	unsigned := repo.Commit(t, map[string]string{"stores.yaml": storesV1 + "# unsigned\n"}, "Unsigned")
	forged := signed
	forged.Revision = unsigned
	if err := keys.Verify(forged); !errors.Is(err, gitsource.ErrUntrusted) {
		t.Fatalf("Verify of another revision's commit: %v, want ErrUntrusted", err)
	}
	none := gitsource.Snapshot{Revision: signed.Revision}
	if err := keys.Verify(none); !errors.Is(err, gitsource.ErrUntrusted) {
		t.Fatalf("Verify without the commit: %v, want ErrUntrusted", err)
	}
}

func TestReadKeyRing(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.asc")
	if err := os.WriteFile(good, gittest.NewSigner(t, "a").PublicKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gitsource.ReadKeyRing(good); err != nil {
		t.Fatalf("ReadKeyRing: %v", err)
	}
	// Two exported keys one after the other, the first without its final
	// newline.
	a, b := gittest.NewSigner(t, "a").PublicKey(t), gittest.NewSigner(t, "b").PublicKey(t)
	k, err := gitsource.ParseKeyRing(append(bytes.TrimSpace(a), b...))
	if err != nil || len(k.Fingerprints()) != 2 {
		t.Fatalf("ParseKeyRing of two keys: %v, %v", k, err)
	}
	bad := filepath.Join(dir, "bad.asc")
	if err := os.WriteFile(bad, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{bad, filepath.Join(dir, "missing.asc")} {
		_, err := gitsource.ReadKeyRing(file)
		if !errors.Is(err, gitsource.ErrConfig) || !strings.Contains(err.Error(), file) {
			t.Errorf("ReadKeyRing(%s): %v, want ErrConfig naming the file", file, err)
		}
	}
}
