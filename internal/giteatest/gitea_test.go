package giteatest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/giteatest"
)

func TestGitea(t *testing.T) {
	g := giteatest.Start(t)

	clone := g.CreateRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n", "docs/README.md": "hello\n"})
	if want := g.URL() + "/" + g.AdminUser() + "/config.git"; clone != want {
		t.Errorf("clone URL %s, want %s", clone, want)
	}
	if got := g.ReadFile(t, "config", "main", "stores.yaml"); got != "stores: []\n" {
		t.Errorf("stores.yaml = %q", got)
	}
	first, ok := g.BranchHead(t, "config", "main")
	if !ok || len(first.Parents) != 0 {
		t.Fatalf("main = %+v, %v; want one root commit", first, ok)
	}

	// git itself can clone with the token as the password.
	dir := t.TempDir()
	authURL := strings.Replace(clone, "http://", "http://git:"+g.Token()+"@", 1)
	if out, err := exec.Command("git", "clone", "--quiet", authURL, dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}

	// A push to main is delivered to the webhook, signed.
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	g.AddWebhook(t, "config", hook.URL+"/hooks/gitea", "hook-secret")
	sha := g.WriteFile(t, "config", "main", "stores.yaml", "stores: []\n# changed\n", "Change stores.yaml")
	second, _ := g.BranchHead(t, "config", "main")
	if second.Commit != sha || len(second.Parents) != 1 || second.Parents[0] != first.Commit {
		t.Errorf("main after WriteFile = %+v, want %s on %s", second, sha, first.Commit)
	}
	select {
	case r := <-got:
		body := <-bodies
		mac := hmac.New(sha256.New, []byte("hook-secret"))
		mac.Write(body)
		if r.Header.Get("X-Gitea-Event") != "push" || r.Header.Get("X-Gitea-Signature") != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("webhook headers %v", r.Header)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30s")
	}

	// A pull request can be merged.
	g.WriteFile(t, "config", "main", "x.txt", "x\n", "x") // main moves on
	g.API(t, http.MethodPost, "/repos/"+g.RepoPath("config")+"/branches", map[string]string{"new_branch_name": "feature", "old_branch_name": "main"}, nil)
	g.WriteFile(t, "config", "feature", "feature.txt", "f\n", "Feature")
	var pr giteatest.Pull
	if status := g.API(t, http.MethodPost, "/repos/"+g.RepoPath("config")+"/pulls",
		map[string]string{"head": "feature", "base": "main", "title": "Feature"}, &pr); status != http.StatusCreated {
		t.Fatalf("open pull request: %d", status)
	}
	g.Merge(t, "config", pr.Number)
	pulls := g.Pulls(t, "config")
	if len(pulls) != 1 || !pulls[0].Merged {
		t.Errorf("pulls after merge: %+v", pulls)
	}
	if got := g.ReadFile(t, "config", "main", "feature.txt"); got != "f\n" {
		t.Errorf("feature.txt on main = %q", got)
	}
}

// delivery is one webhook request as received.
type delivery struct {
	header http.Header
	body   []byte
}

// recorder is a webhook target that records every delivery.
func recorder(t *testing.T) (*httptest.Server, chan delivery) {
	t.Helper()
	got := make(chan delivery, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{header: r.Header.Clone(), body: b}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func next(t *testing.T, got chan delivery) delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30s")
	}
	return delivery{}
}

func hmacHex(secret string, data []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// A webhook of content type "form" sends payload=<JSON> and signs the
// JSON, not the body as sent; deleting a branch sends a "delete" event,
// not a push with an all-zero "after".
func TestWebhookForms(t *testing.T) {
	g := giteatest.Start(t)
	g.CreateRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n"})
	g.CreateBranch(t, "config", "prod", "main")
	hook, got := recorder(t)
	g.AddHook(t, "config", giteatest.Hook{URL: hook.URL, Secret: "form-secret", ContentType: "form", Events: []string{"push", "delete"}})
	sha := g.WriteFile(t, "config", "prod", "stores.yaml", "stores: []\n# changed\n", "Change")

	// Creating the branch may be delivered too, before or after.
	var d delivery
	var push struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	var payload []byte
	for push.After != sha {
		d = next(t, got)
		if ct := d.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		form, err := url.ParseQuery(string(d.body))
		if err != nil || len(form["payload"]) != 1 {
			t.Fatalf("body is not payload=<json>: %v\n%.200s", err, d.body)
		}
		payload = []byte(form.Get("payload"))
		if err := json.Unmarshal(payload, &push); err != nil || push.Ref != "refs/heads/prod" || d.header.Get("X-Gitea-Event") != "push" {
			t.Fatalf("%s payload %+v, %v", d.header.Get("X-Gitea-Event"), push, err)
		}
	}
	sig := d.header.Get("X-Gitea-Signature")
	if sig != hmacHex("form-secret", payload) {
		t.Errorf("X-Gitea-Signature %s is not the HMAC of the JSON payload", sig)
	}
	if sig == hmacHex("form-secret", d.body) {
		t.Error("X-Gitea-Signature is the HMAC of the form body")
	}
	if d.header.Get("X-Hub-Signature-256") != "sha256="+hmacHex("form-secret", payload) {
		t.Errorf("X-Hub-Signature-256 %s is not the HMAC of the JSON payload", d.header.Get("X-Hub-Signature-256"))
	}
	if d.header.Get("X-Gitea-Delivery") == "" {
		t.Error("no X-Gitea-Delivery")
	}

	// Deleting the branch sends a "delete" event (a late delivery of the
	// branch's creation may come first).
	g.DeleteBranch(t, "config", "prod")
	for d = next(t, got); d.header.Get("X-Gitea-Event") != "delete"; d = next(t, got) {
		form, _ := url.ParseQuery(string(d.body))
		var p struct {
			After string `json:"after"`
		}
		_ = json.Unmarshal([]byte(form.Get("payload")), &p)
		if ev := d.header.Get("X-Gitea-Event"); ev != "push" || strings.Trim(p.After, "0") == "" {
			t.Errorf("deleting a branch sent event %q: %.300s", ev, d.body)
		}
	}
}

// MAX_RESPONSE_ITEMS caps the pages of the API, whatever the client asks.
func TestMaxResponseItems(t *testing.T) {
	g := giteatest.StartWith(t, giteatest.Options{MaxResponseItems: 2})
	for _, name := range []string{"a", "b", "c"} {
		g.CreateRepo(t, name, nil)
	}
	var repos []json.RawMessage
	if status := g.API(t, http.MethodGet, "/user/repos?limit=50", nil, &repos); status != http.StatusOK || len(repos) != 2 {
		t.Errorf("limit=50 gave %d repositories (status %d), want 2", len(repos), status)
	}
}
