package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/web"
	"github.com/storeops/storeops/web/dashboard"
	"github.com/storeops/storeops/web/sessions"
)

// dashboardFlags configure the dashboard, its users and the forge its
// buttons open pull requests on.
type dashboardFlags struct {
	enabled       bool
	usersFile     string
	tokensFile    string
	trustedHeader string
	readAuth      bool
	anonReads     bool
	secureCookies bool
	sessionKey    string
	proxies       string
	idleTimeout   time.Duration
	pushTokenFile string

	forgeKind, forgeURL, forgeRepo, forgeTokenFile string
}

func (f *dashboardFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "dashboard", true, "serve the dashboard at /")
	fs.StringVar(&f.usersFile, "dashboard-users-file", "", "users who may log in: lines \"user:<bcrypt hash>\" (htpasswd -B)")
	fs.StringVar(&f.tokensFile, "dashboard-tokens-file", "", "API tokens: lines \"user:<token>\", sent as Authorization: Bearer <token>")
	fs.StringVar(&f.trustedHeader, "dashboard-trusted-header", "", "header naming the user, set by an authenticating proxy in front of storeops (e.g. X-Forwarded-User)")
	fs.BoolVar(&f.anonReads, "anonymous-reads", false, "let anyone who reaches storeops read the dashboard and the /api/v1 status API without logging in (default: a login or bearer token is required; proposing always requires one)")
	fs.BoolVar(&f.readAuth, "dashboard-read-auth", true, "deprecated: reading requires a login by default; --anonymous-reads turns that off")
	fs.BoolVar(&f.secureCookies, "secure-cookies", false, "mark cookies Secure (set it when clients use TLS)")
	fs.StringVar(&f.sessionKey, "dashboard-session-key-file", "", "file holding the key (32+ bytes) that signs logins; give every replica the same (default: random at start)")
	fs.StringVar(&f.proxies, "trusted-proxies", "", "comma-separated CIDRs of the proxies in front of storeops (e.g. the ingress controller's pod network): only from them are X-Forwarded-For, X-Forwarded-Proto and --dashboard-trusted-header believed")
	fs.DurationVar(&f.idleTimeout, "dashboard-idle-timeout", dashboard.DefaultIdleTimeout, "a dashboard session unused this long ends")
	fs.StringVar(&f.forgeKind, "forge", "", "forge of the config repository for pull requests: gitea, github or gitlab (empty: proposing disabled)")
	fs.StringVar(&f.forgeURL, "forge-url", "", "forge API root (default https://api.github.com or https://gitlab.com; required for gitea)")
	fs.StringVar(&f.forgeRepo, "forge-repo", "", "repository on the forge: owner/name (GitLab: group/project)")
	fs.StringVar(&f.forgeTokenFile, "forge-token-file", "", "file holding the forge API token (or $"+forge.EnvToken+")")
	fs.StringVar(&f.pushTokenFile, "git-push-token-file", "", "file holding the HTTPS token the dashboard's proposals push their branches with, so that --git-token-file can be read-only (default: the fetch credentials, which must then allow pushing)")
}

// build makes the dashboard, or nil when it is turned off.
func (f *dashboardFlags) build(e *engine, src sourceFlags, cluster web.ClusterReader, log *slog.Logger) (*dashboard.Dashboard, error) {
	readAuth := f.readAuth && !f.anonReads
	if !f.enabled {
		if readAuth {
			// The login that guards /api/v1 is the dashboard's.
			return nil, errors.New("--dashboard=false leaves the status API without a login: keep the dashboard, or pass --anonymous-reads to serve it to anyone")
		}
		return nil, nil
	}
	if readAuth && f.usersFile == "" && f.tokensFile == "" && f.trustedHeader == "" {
		return nil, errors.New("reading the dashboard and the status API requires a login, and none is configured: give --dashboard-users-file, --dashboard-tokens-file or --dashboard-trusted-header, or pass --anonymous-reads to serve them to anyone")
	}
	auth := dashboard.Auth{ReadRequiresAuth: readAuth, TrustedHeader: f.trustedHeader}
	var err error
	if f.usersFile != "" {
		if auth.Users, err = dashboard.LoadUsers(f.usersFile); err != nil {
			return nil, err
		}
	}
	if f.tokensFile != "" {
		if auth.Tokens, err = loadTokens(f.tokensFile); err != nil {
			return nil, err
		}
	}
	proposer, err := f.proposer(src, log)
	if err != nil {
		return nil, err
	}
	cfg := dashboard.Config{Board: e.board, Cluster: cluster, Auth: auth, Logger: log, Secure: f.secureCookies, IdleTimeout: f.idleTimeout}
	if cfg.TrustedProxies, err = parsePrefixes(f.proxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if f.trustedHeader != "" && len(cfg.TrustedProxies) == 0 {
		return nil, errors.New("--dashboard-trusted-header needs --trusted-proxies: without it anyone who reaches storeops could name any user in that header")
	}
	if f.sessionKey != "" {
		if cfg.SessionKey, err = os.ReadFile(f.sessionKey); err != nil {
			return nil, err
		}
		cfg.SessionKey = bytes.TrimRight(cfg.SessionKey, "\r\n")
	}
	if proposer != nil {
		cfg.Proposer = proposer
	}
	if len(auth.Users) > 0 && e != nil && e.client != nil {
		// Logouts are shared with every replica through a ConfigMap of
		// storeops' own namespace, which each replica watches.
		rev := sessions.New(e.client, e.flags.lease.namespace, sessions.Name(e.flags.instance), log.With("component", "dashboard"))
		go rev.Run(context.Background())
		cfg.Revocations = rev
	}
	return dashboard.New(cfg)
}

// proposer builds the pull-request side, or nil without --forge.
func (f *dashboardFlags) proposer(src sourceFlags, log *slog.Logger) (*proposals.GitProposer, error) {
	if f.forgeKind == "" {
		return nil, nil
	}
	if err := checkURLFlag("forge-url", f.forgeURL); err != nil {
		return nil, err
	}
	token, err := forge.TokenFromEnvAndFile(f.forgeTokenFile, nil)
	if err != nil {
		return nil, err
	}
	fg, err := forge.New(forge.Config{Kind: f.forgeKind, BaseURL: f.forgeURL, Repo: f.forgeRepo, Token: token})
	if err != nil {
		return nil, err
	}
	// A Source of its own: Fetch remembers the last revision per Source.
	own := f.pushSource(src)
	s, err := own.source(log.With("component", "proposals"))
	if err != nil {
		return nil, err
	}
	return proposals.New(proposals.Config{Source: s, Forge: fg, Limits: src.limits, Logger: log, Author: gitsource.DefaultSignature})
}

// pushSource is the Git source the proposer fetches and pushes with: the
// sync's, with --git-push-token-file's token instead of the fetch
// credentials when it is given (never the fetch token's environment
// variables then).
func (f *dashboardFlags) pushSource(src sourceFlags) sourceFlags {
	own := src
	own.cacheDir = ""
	if f.pushTokenFile != "" {
		own.auth = gitsource.AuthFiles{Username: src.auth.Username, TokenFile: f.pushTokenFile}
		own.getenv = func(k string) string {
			if k == gitsource.EnvToken || k == gitsource.EnvPassword || k == gitsource.EnvSSHKeyPassphrase {
				return ""
			}
			return os.Getenv(k)
		}
	}
	return own
}

// parsePrefixes reads comma-separated CIDRs; a bare address is its own
// /32 or /128.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// loadTokens reads "user:token" lines; # starts a comment.
func loadTokens(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, token, ok := strings.Cut(line, ":")
		if !ok || user == "" || token == "" {
			return nil, fmt.Errorf("%s:%d: want user:token", path, n)
		}
		out[token] = user
	}
	return out, sc.Err()
}
