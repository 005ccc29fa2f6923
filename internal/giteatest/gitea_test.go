package giteatest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
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
