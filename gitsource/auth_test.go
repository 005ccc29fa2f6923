package gitsource_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
	"golang.org/x/crypto/ssh"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sshKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestAuthFromEnvAndFiles(t *testing.T) {
	key := sshKey(t)
	keyFile := writeFile(t, "id", key)
	known := writeFile(t, "known_hosts", "")
	tokenFile := writeFile(t, "token", "tok-from-file\n")

	for _, tc := range []struct {
		name  string
		files gitsource.AuthFiles
		env   map[string]string
		want  gitsource.Auth
		err   string
	}{
		{name: "nothing", want: gitsource.Auth{}},
		{name: "token file", files: gitsource.AuthFiles{TokenFile: tokenFile},
			want: gitsource.Auth{Token: "tok-from-file"}},
		{name: "token env", env: map[string]string{gitsource.EnvToken: "tok-env", gitsource.EnvUsername: "ci"},
			want: gitsource.Auth{Token: "tok-env", Username: "ci"}},
		{name: "basic", files: gitsource.AuthFiles{Username: "shop", PasswordFile: writeFile(t, "pw", "pw\n")},
			want: gitsource.Auth{Username: "shop", Password: "pw"}},
		{name: "ssh", files: gitsource.AuthFiles{SSHKeyFile: keyFile, KnownHostsFile: known},
			want: gitsource.Auth{SSHKey: []byte(key), KnownHostsFile: known}},
		{name: "token twice", files: gitsource.AuthFiles{TokenFile: tokenFile}, env: map[string]string{gitsource.EnvToken: "x"},
			err: "token given both in a file and in $STOREOPS_GIT_TOKEN"},
		{name: "empty token file", files: gitsource.AuthFiles{TokenFile: writeFile(t, "empty", "\n")}, err: "is empty"},
		{name: "missing token file", files: gitsource.AuthFiles{TokenFile: "/nonexistent/token"}, err: "read token file"},
		{name: "ssh without known_hosts", files: gitsource.AuthFiles{SSHKeyFile: keyFile}, err: "known_hosts"},
		{name: "ssh and token", files: gitsource.AuthFiles{SSHKeyFile: keyFile, KnownHostsFile: known, TokenFile: tokenFile}, err: "not both"},
		{name: "password without user", env: map[string]string{gitsource.EnvPassword: "pw"}, err: "needs a user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gitsource.AuthFromEnvAndFiles(tc.files, env(tc.env))
			if tc.err != "" {
				if !errors.Is(err, gitsource.ErrConfig) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want ErrConfig mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("Auth (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthIsRedacted(t *testing.T) {
	a := gitsource.Auth{Username: "u", Password: "hunter2", Token: "", SSHKey: nil}
	for _, s := range []string{a.String(), fmt.Sprint(a), fmt.Sprintf("%v", a), a.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("%q leaks the password", s)
		}
	}
	if a.Kind() != "basic" {
		t.Fatalf("Kind = %q", a.Kind())
	}
}

func TestNewWithSSH(t *testing.T) {
	auth := gitsource.Auth{SSHKey: []byte(sshKey(t)), KnownHostsFile: writeFile(t, "known_hosts", "")}
	for _, url := range []string{"git@git.example.com:shop/stores.git", "ssh://git@git.example.com:2222/shop/stores.git"} {
		if _, err := gitsource.New(gitsource.Config{URL: url, Auth: auth}, nil); err != nil {
			t.Errorf("New(%s): %v", url, err)
		}
	}
	bad := auth
	bad.SSHKey = []byte("not a key")
	if _, err := gitsource.New(gitsource.Config{URL: "git@git.example.com:shop/stores.git", Auth: bad}, nil); !errors.Is(err, gitsource.ErrConfig) {
		t.Errorf("New with a bad key: %v, want ErrConfig", err)
	}
}

// Credentials never travel over plain http, except to a loopback
// address. Before, a token was sent in clear to any http:// remote.
func TestNoCredentialsOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		url  string
		auth gitsource.Auth
		ok   bool
	}{
		{"http://git.example.com/ops/stores.git", gitsource.Auth{Token: "s3cr3t-t0k3n"}, false},
		{"http://10.1.2.3:3000/ops/stores.git", gitsource.Auth{Username: "u", Password: "pw-v4lue"}, false},
		{"http://git.example.com/ops/stores.git", gitsource.Auth{}, true}, // anonymous
		{"https://git.example.com/ops/stores.git", gitsource.Auth{Token: "s3cr3t-t0k3n"}, true},
		{"http://127.0.0.1:3000/ops/stores.git", gitsource.Auth{Token: "s3cr3t-t0k3n"}, true},
		{"http://localhost/ops/stores.git", gitsource.Auth{Username: "u", Password: "pw-v4lue"}, true},
		{"http://[::1]:8080/ops/stores.git", gitsource.Auth{Token: "s3cr3t-t0k3n"}, true},
	} {
		_, err := gitsource.New(gitsource.Config{URL: tc.url, Auth: tc.auth}, nil)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s (%s): %v", tc.url, tc.auth, err)
		case !tc.ok && (!errors.Is(err, gitsource.ErrConfig) || !strings.Contains(err.Error(), "plain http")):
			t.Errorf("%s (%s): err = %v, want ErrConfig about plain http", tc.url, tc.auth, err)
		case err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "pw-v4lue")):
			t.Errorf("%s: the secret is in the error: %v", tc.url, err)
		}
	}
}
