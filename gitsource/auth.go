package gitsource

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Environment variables read by AuthFromEnvAndFiles. A secret may come
// from its variable or from its file, not from both.
const (
	EnvToken            = "STOREOPS_GIT_TOKEN"
	EnvUsername         = "STOREOPS_GIT_USERNAME"
	EnvPassword         = "STOREOPS_GIT_PASSWORD"
	EnvSSHKeyPassphrase = "STOREOPS_GIT_SSH_KEY_PASSPHRASE"
)

// DefaultTokenUser is the user name sent with an access token over
// HTTPS. GitHub, GitLab and Gitea accept any non-empty name with a token.
const DefaultTokenUser = "git"

// Auth holds the credentials for the Git remote: an access token, a user
// name and password, or an SSH private key with a known_hosts file. Which
// one applies follows the URL: HTTP(S) URLs take Token or
// Username/Password, SSH URLs take SSHKey. The zero value means
// anonymous access. Auth prints and logs as its kind only, never its
// secrets.
type Auth struct {
	// Username goes with Password for basic auth; with Token it is the
	// user name sent (DefaultTokenUser when empty).
	Username string
	// Password is the basic-auth password.
	Password string
	// Token is an HTTPS access token, sent as the basic-auth password.
	Token string
	// SSHUser is the SSH login, "git" when empty.
	SSHUser string
	// SSHKey is a PEM-encoded private key.
	SSHKey []byte
	// SSHKeyPassphrase decrypts SSHKey when it is encrypted.
	SSHKeyPassphrase string
	// KnownHostsFile is the known_hosts file that the server's host key
	// is checked against. It is required with SSHKey: host keys are
	// never accepted blindly.
	KnownHostsFile string
}

// Kind names the kind of credentials: "none", "token", "basic" or "ssh".
func (a Auth) Kind() string {
	switch {
	case len(a.SSHKey) > 0:
		return "ssh"
	case a.Token != "":
		return "token"
	case a.Username != "" || a.Password != "":
		return "basic"
	}
	return "none"
}

// String returns the kind of credentials, never the secrets.
func (a Auth) String() string { return "git auth " + a.Kind() }

// LogValue logs the kind of credentials, never the secrets.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.Kind()) }

// AuthFiles names where AuthFromEnvAndFiles reads credentials from, as
// given on the command line (--git-username, --git-token-file,
// --git-password-file, --git-ssh-key-file, --git-ssh-key-passphrase-file,
// --git-known-hosts-file). Empty fields are not read.
type AuthFiles struct {
	// Username is not a secret and may be given directly.
	Username             string
	TokenFile            string
	PasswordFile         string
	SSHKeyFile           string
	SSHKeyPassphraseFile string
	KnownHostsFile       string
}

// AuthFromEnvAndFiles assembles Auth from files and the environment
// variables EnvToken, EnvUsername, EnvPassword and EnvSSHKeyPassphrase,
// looked up with getenv (os.Getenv when nil). Trailing white space is
// trimmed from tokens and passwords read from files, as Kubernetes
// secrets often end in a newline. It fails with ErrConfig when a secret
// is given twice, when a token and an SSH key are both given, or when
// an SSH key comes without a known_hosts file.
func AuthFromEnvAndFiles(files AuthFiles, getenv func(string) string) (Auth, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var a Auth
	var err error
	a.Username = files.Username
	if a.Username == "" {
		a.Username = getenv(EnvUsername)
	}
	if a.Token, err = secret("token", files.TokenFile, EnvToken, getenv); err != nil {
		return Auth{}, err
	}
	if a.Password, err = secret("password", files.PasswordFile, EnvPassword, getenv); err != nil {
		return Auth{}, err
	}
	if a.SSHKeyPassphrase, err = secret("SSH key passphrase", files.SSHKeyPassphraseFile, EnvSSHKeyPassphrase, getenv); err != nil {
		return Auth{}, err
	}
	if files.SSHKeyFile != "" {
		if a.SSHKey, err = os.ReadFile(files.SSHKeyFile); err != nil {
			return Auth{}, fmt.Errorf("%w: read SSH key: %w", ErrConfig, err)
		}
	}
	if files.KnownHostsFile != "" {
		if _, err := os.Stat(files.KnownHostsFile); err != nil {
			return Auth{}, fmt.Errorf("%w: known_hosts: %w", ErrConfig, err)
		}
		a.KnownHostsFile = files.KnownHostsFile
	}
	if err := a.check(); err != nil {
		return Auth{}, err
	}
	return a, nil
}

func secret(what, file, env string, getenv func(string) string) (string, error) {
	fromEnv := getenv(env)
	if file == "" {
		return fromEnv, nil
	}
	if fromEnv != "" {
		return "", fmt.Errorf("%w: %s given both in a file and in $%s", ErrConfig, what, env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: read %s file: %w", ErrConfig, what, err)
	}
	v := strings.TrimRight(string(b), " \t\r\n")
	if v == "" {
		return "", fmt.Errorf("%w: %s file %s is empty", ErrConfig, what, file)
	}
	return v, nil
}

// check reports contradictory credentials.
func (a Auth) check() error {
	switch {
	case len(a.SSHKey) > 0 && (a.Token != "" || a.Password != ""):
		return fmt.Errorf("%w: give either an SSH key or a token/password, not both", ErrConfig)
	case a.Token != "" && a.Password != "":
		return fmt.Errorf("%w: give either a token or a password, not both", ErrConfig)
	case len(a.SSHKey) > 0 && a.KnownHostsFile == "":
		return fmt.Errorf("%w: an SSH key needs a known_hosts file", ErrConfig)
	case a.Password != "" && a.Username == "":
		return fmt.Errorf("%w: a password needs a user name", ErrConfig)
	}
	return nil
}

// method turns Auth into go-git's form for the remote URL.
func (a Auth) method(remote string) (transport.AuthMethod, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return nil, fmt.Errorf("%w: URL: %w", ErrConfig, err)
	}
	switch ep.Protocol {
	case "ssh":
		if len(a.SSHKey) == 0 {
			return nil, fmt.Errorf("%w: SSH URL %s needs an SSH key", ErrConfig, remote)
		}
		user := a.SSHUser
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("%w: SSH key: %w", ErrConfig, err)
		}
		cb, err := gitssh.NewKnownHostsCallback(a.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("%w: known_hosts: %w", ErrConfig, err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	case "http", "https":
		if len(a.SSHKey) > 0 {
			return nil, fmt.Errorf("%w: an SSH key cannot be used with %s URL %s", ErrConfig, ep.Protocol, remote)
		}
		if ep.Protocol == "http" && (a.Token != "" || a.Password != "") && !isLoopback(ep.Host) {
			return nil, fmt.Errorf("%w: refusing to send the Git %s over plain http to %s; use an https URL (plain http is allowed only to a loopback address)", ErrConfig, a.Kind(), ep.Host)
		}
		switch a.Kind() {
		case "token":
			user := a.Username
			if user == "" {
				user = DefaultTokenUser
			}
			return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
		case "basic":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	default:
		if a.Kind() != "none" {
			return nil, fmt.Errorf("%w: credentials cannot be used with %s URL %s", ErrConfig, ep.Protocol, remote)
		}
		return nil, nil
	}
}

// isLoopback reports whether host (a name or an IP address, without a
// port) is "localhost" or a loopback address: the only hosts credentials
// may be sent to over plain http.
func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// checkURL refuses URLs that carry a password: credentials belong in
// files or the environment, not in a URL that ends up in flags and logs.
func checkURL(remote string) error {
	if remote == "" {
		return fmt.Errorf("%w: URL is empty", ErrConfig)
	}
	if u, err := url.Parse(remote); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return fmt.Errorf("%w: URL must not contain a password; use a token file or %s", ErrConfig, EnvToken)
		}
	}
	return nil
}
