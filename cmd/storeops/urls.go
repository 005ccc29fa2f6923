package main

import (
	"fmt"
	"net/url"
	"strings"
)

// checkURLFlag refuses credentials embedded in the URL given to flag:
// a password (https://user:TOKEN@host/...), or any user name in an
// http(s) URL (https://TOKEN@host/..., which GitHub accepts as a token).
// Credentials come from files or the environment, never from a flag value
// that shows in `ps`, in the pod's spec, in logs and in the status API. A
// user name in an SSH URL (ssh://git@host/..., git@host:path) is not a
// secret and stays allowed.
func checkURLFlag(flag, value string) error {
	if value == "" || !strings.Contains(value, "://") {
		return nil // a local path, or the scp-like SSH form user@host:path
	}
	u, err := url.Parse(value)
	if err != nil {
		// url.Parse's error quotes the URL: do not repeat it.
		return fmt.Errorf("-%s: not a valid URL", flag)
	}
	if u.User == nil {
		return nil
	}
	_, hasPassword := u.User.Password()
	if hasPassword || u.Scheme == "http" || u.Scheme == "https" {
		return fmt.Errorf("-%s %s: the URL carries credentials; remove them and give them as files or environment variables (--git-username with --git-token-file or $STOREOPS_GIT_TOKEN for Git, --forge-token-file for the forge)", flag, redactURL(value))
	}
	return nil
}

// redactURL returns s with any user information of a URL replaced, for
// logs, errors and the status API.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		scheme, rest, _ := strings.Cut(s, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			return scheme + "://[redacted]@" + rest[at+1:]
		}
		return s
	}
	if u.User == nil {
		return s
	}
	if _, pw := u.User.Password(); pw || u.Scheme == "http" || u.Scheme == "https" {
		u.User = url.User("redacted")
	}
	return u.String()
}
