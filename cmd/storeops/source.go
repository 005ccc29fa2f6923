package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/render"
)

// sourceFlags are the flags that say where stores.yaml comes from. Secrets
// come from files or the environment, never from flag values.
type sourceFlags struct {
	url, branch, path, cacheDir string
	timeout                     time.Duration
	auth                        gitsource.AuthFiles
	limits                      render.Limits
	// getenv, when set, replaces os.Getenv for the credentials'
	// environment variables.
	getenv func(string) string
	// verifySignatures names the ASCII-armored OpenPGP keyring whose
	// signatures the head commit must carry; "" verifies nothing.
	verifySignatures string
}

func (f *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "git-url", "", "Git repository holding stores.yaml: https://, ssh:// or a local path")
	fs.StringVar(&f.branch, "git-branch", gitsource.DefaultBranch, "branch to track")
	fs.StringVar(&f.path, "git-path", gitsource.DefaultPath, "path of the stores file inside the repository")
	fs.StringVar(&f.cacheDir, "git-cache-dir", "", "directory to keep the clone in across restarts (default: memory only)")
	fs.DurationVar(&f.timeout, "git-timeout", gitsource.DefaultTimeout, "timeout of each Git operation")
	fs.StringVar(&f.auth.Username, "git-username", "", "user name for HTTPS (or $"+gitsource.EnvUsername+")")
	fs.StringVar(&f.auth.TokenFile, "git-token-file", "", "file holding an HTTPS token (or $"+gitsource.EnvToken+")")
	fs.StringVar(&f.auth.PasswordFile, "git-password-file", "", "file holding an HTTPS password (or $"+gitsource.EnvPassword+")")
	fs.StringVar(&f.auth.SSHKeyFile, "git-ssh-key-file", "", "SSH private key file")
	fs.StringVar(&f.auth.SSHKeyPassphraseFile, "git-ssh-key-passphrase-file", "", "file holding the SSH key's passphrase (or $"+gitsource.EnvSSHKeyPassphrase+")")
	fs.StringVar(&f.auth.KnownHostsFile, "git-known-hosts-file", "", "known_hosts file for SSH (required with an SSH key)")
	fs.StringVar(&f.verifySignatures, "verify-signatures", "", "ASCII-armored OpenPGP public keyring (gpg --export --armor KEYID): apply only commits signed by one of its keys")
	fs.IntVar(&f.limits.MaxStores, "max-stores", render.DefaultMaxStores, "most stores stores.yaml may declare")
	fs.IntVar(&f.limits.MaxBytes, "max-bytes", render.DefaultMaxBytes, "largest stores.yaml accepted, in bytes")
}

// source builds the Git source. A local directory is read through file://.
func (f *sourceFlags) source(log *slog.Logger) (*gitsource.Source, error) {
	if f.url == "" {
		return nil, fmt.Errorf("no repository given")
	}
	if err := checkURLFlag("git-url", f.url); err != nil {
		return nil, err
	}
	u := f.url
	if !strings.Contains(u, "://") && !strings.Contains(u, "@") {
		abs, err := filepath.Abs(u)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("repository %s: %w", u, err)
		}
		u = "file://" + abs
	}
	auth, err := gitsource.AuthFromEnvAndFiles(f.auth, f.getenv)
	if err != nil {
		return nil, err
	}
	return gitsource.New(gitsource.Config{
		URL: u, Branch: f.branch, Path: f.path, Auth: auth, Timeout: f.timeout,
		Dir: f.cacheDir, MaxFileSize: int64(f.limits.MaxBytes),
	}, log)
}

// verifier returns the check of the head commit's signature that
// --verify-signatures asks for, nil when it is not set. A keyring that
// cannot be read is an error naming the file.
func (f *sourceFlags) verifier(log *slog.Logger) (func(gitsource.Snapshot) error, error) {
	if f.verifySignatures == "" {
		return nil, nil
	}
	keys, err := gitsource.ReadKeyRing(f.verifySignatures)
	if err != nil {
		return nil, fmt.Errorf("--verify-signatures: %w", err)
	}
	if log != nil {
		log.Info("applying only commits signed by a trusted key", "keyring", f.verifySignatures, "keys", keys.Fingerprints())
	}
	return keys.Verify, nil
}

// describe is the source for the status: URL, branch and path.
func (f *sourceFlags) describe() string {
	return fmt.Sprintf("%s (branch %s, %s)", redactURL(f.url), f.branch, f.path)
}

// revision is one fetched and parsed stores.yaml.
type revision struct {
	snap gitsource.Snapshot
	cfg  *render.Config
}

// fetchRevision fetches the branch head, checks its commit with verify
// (when not nil) and parses its stores.yaml.
func fetchRevision(ctx context.Context, src *gitsource.Source, limits render.Limits, verify func(gitsource.Snapshot) error) (revision, error) {
	snap, err := src.Fetch(ctx)
	if err != nil {
		return revision{}, err
	}
	if verify != nil {
		if err := verify(snap); err != nil {
			return revision{snap: snap}, err
		}
	}
	cfg, err := render.Parse(snap.Path, snap.Data, limits)
	return revision{snap: snap, cfg: cfg}, err
}

// confirmsDeletions reports whether snap's revision is the one confirmed
// (7 or more hex digits of it) from outside the repository: on the
// command line or with storeops confirm-deletions. Nothing in the commit
// itself confirms anything: whoever writes a destructive commit must not
// be the one who confirms it.
func confirmsDeletions(snap gitsource.Snapshot, confirmed string) bool {
	confirmed = strings.ToLower(confirmed)
	return confirmableRevision.MatchString(confirmed) && strings.HasPrefix(strings.ToLower(snap.Revision), confirmed)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
