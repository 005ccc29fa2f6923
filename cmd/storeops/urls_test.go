package main

import (
	"strings"
	"testing"
)

// TestURLFlagsRefuseCredentials: a token or password in a URL flag is
// refused, and neither the refusal nor a redacted URL repeats it.
func TestURLFlagsRefuseCredentials(t *testing.T) {
	const secret = "ghp_S3cr3tT0ken"
	for _, bad := range []string{
		"https://" + secret + "@github.com/acme/stores.git",
		"https://x-access-token:" + secret + "@github.com/acme/stores.git",
		"http://git:" + secret + "@127.0.0.1:3000/acme/stores.git",
		"ssh://git:" + secret + "@git.example.com/acme/stores.git",
	} {
		err := checkURLFlag("git-url", bad)
		if err == nil {
			t.Errorf("%s: accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the refusal repeats the secret: %v", err)
		}
		if got := redactURL(bad); strings.Contains(got, secret) {
			t.Errorf("redactURL(%s) = %s", bad, got)
		}
	}
	for _, good := range []string{"", "https://github.com/acme/stores.git", "ssh://git@git.example.com/acme/stores.git",
		"git@github.com:acme/stores.git", "/srv/git/stores", "file:///srv/git/stores"} {
		if err := checkURLFlag("git-url", good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
		if got := redactURL(good); got != good {
			t.Errorf("redactURL(%s) = %s, want it unchanged", good, got)
		}
	}
}

// TestSourceRefusesCredentialsInURL: the Git source of serve, plan and
// sync is not even built with a token in --git-url.
func TestSourceRefusesCredentialsInURL(t *testing.T) {
	f := sourceFlags{url: "https://TOKEN123@github.com/acme/stores.git", branch: "main", path: "stores.yaml"}
	if _, err := f.source(nil); err == nil || strings.Contains(err.Error(), "TOKEN123") {
		t.Fatalf("source with a token in the URL: %v", err)
	}
	if d := f.describe(); strings.Contains(d, "TOKEN123") {
		t.Fatalf("describe shows the token: %s", d)
	}
}

// TestOtherURLFlagsRefuseCredentials: --dashboard-url (published in commit
// statuses), --forge-url of the commit status reporter and storeops get's
// --server refuse credentials too, without repeating them.
func TestOtherURLFlagsRefuseCredentials(t *testing.T) {
	const secret = "s3cr3t-in-url"
	st := statusFlags{enabled: true, dashboardURL: "https://admin:" + secret + "@storeops.example.com/"}
	_, err := st.reporter(dashboardFlags{forgeKind: "gitea", forgeURL: "https://gitea.example.com"}, nil, nil)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("--dashboard-url with a password: %v", err)
	}
	st.dashboardURL = ""
	_, err = st.reporter(dashboardFlags{forgeKind: "gitea", forgeURL: "https://" + secret + "@gitea.example.com"}, nil, nil)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("--forge-url with a token: %v", err)
	}
	g := apiFlags{server: "http://bot:" + secret + "@127.0.0.1:8080"}
	if err := g.get(t.Context(), "/api/v1/status", nil); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("get --server with a password: %v", err)
	}
}
