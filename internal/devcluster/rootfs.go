package devcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DebianRootFS is the recipe of a Debian bookworm root filesystem made by
// mmdebstrap (no container engine): the minbase variant with Packages, no
// docs, man pages or translations, a user and group with id UID (default
// 999) made before the packages make theirs (none when User is empty),
// more --essential-hook commands, and --customize-hook commands, which run
// once the packages are installed ("$1" is the root directory).
type DebianRootFS struct {
	Name      string
	Packages  []string
	User      [3]string // name, home, shell of the user with id UID; empty: no user
	UID       int       // 0: 999
	Hooks     []string
	Customize []string
}

// userHook adds a user and a group with id 999 (or the id of $5) before
// the packages make theirs (minbase has no groupadd).
const userHook = `set -e
echo "$2:x:999:999::$3:$4" >> "$1/etc/passwd"
echo "$2:x:999:" >> "$1/etc/group"
echo "$2:*:19000:0:99999:7:::" >> "$1/etc/shadow"
echo "$2:!::" >> "$1/etc/gshadow"
`

func (r DebianRootFS) hook() string {
	if r.User[0] == "" {
		return ""
	}
	if r.UID == 0 || r.UID == 999 {
		return userHook
	}
	return strings.ReplaceAll(userHook, "999", strconv.Itoa(r.UID))
}

// Path is where Build puts the root filesystem's tar in dir: the name and
// a hash of the recipe, so a changed recipe builds anew and an unchanged
// one is never rebuilt.
func (r DebianRootFS) Path(dir string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q excludes:doc,man,locale SOURCE_DATE_EPOCH=0", r.Packages, r.User, r.Hooks, r.hook())
	if len(r.Customize) > 0 {
		fmt.Fprintf(h, " customize %q", r.Customize)
	}
	return filepath.Join(dir, fmt.Sprintf("%s-bookworm-%s.rootfs.tar", r.Name, hex.EncodeToString(h.Sum(nil))[:12]))
}

// Build returns the tar of the root filesystem in dir, making it with
// mmdebstrap from the Debian mirror (1-2.5 minutes) unless it is there.
// The mirror moves: a tar made later may hold newer package versions of
// the same recipe (the same versions give the same bytes); the cached one
// is kept until the recipe changes.
func (r DebianRootFS) Build(ctx context.Context, dir string, log io.Writer) (string, error) {
	rootfs := r.Path(dir)
	if _, err := os.Stat(rootfs); err == nil {
		return rootfs, nil
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", fmt.Errorf("the %s root filesystem needs mmdebstrap (apt-get install mmdebstrap)", r.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	hookFile, err := os.CreateTemp("", "storeops-user-hook-*.sh")
	if err != nil {
		return "", err
	}
	defer os.Remove(hookFile.Name())
	if _, err := hookFile.WriteString(r.hook()); err != nil {
		return "", err
	}
	if err := hookFile.Close(); err != nil {
		return "", err
	}
	args := []string{"--variant=minbase", "--format=tar", "--include=" + strings.Join(r.Packages, ","),
		"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*"}
	if r.User[0] != "" {
		args = append(args, fmt.Sprintf(`--essential-hook=sh %s "$1" %s %s %s`, hookFile.Name(), r.User[0], r.User[1], r.User[2]))
	}
	for _, hook := range r.Hooks {
		args = append(args, "--essential-hook="+hook)
	}
	for _, hook := range r.Customize {
		args = append(args, "--customize-hook="+hook)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", rootfs, os.Getpid())
	args = append(args, `--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*`, "bookworm", tmp)
	began := time.Now()
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	// mmdebstrap's output is reproducible with SOURCE_DATE_EPOCH (the same
	// packages give the same tar).
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("mmdebstrap %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp, rootfs); err != nil {
		return "", err
	}
	if log != nil {
		fmt.Fprintf(log, "built the %s root filesystem with mmdebstrap in %s\n", r.Name, time.Since(began).Round(time.Second))
	}
	return rootfs, nil
}
