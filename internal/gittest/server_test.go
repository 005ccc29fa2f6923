package gittest_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/gittest"
)

func TestServerServesClone(t *testing.T) {
	s := gittest.NewServer(t)
	repo := s.NewRepo(t, "shop/config", map[string]string{"stores.yaml": "stores: []\n"})
	sha := repo.Commit(t, map[string]string{"dir/a.txt": "a"}, "Add a")
	if got := repo.Head(t, "main"); got != sha {
		t.Fatalf("Head(main) = %s, want %s", got, sha)
	}
	if got := repo.ReadFile(t, "main", "stores.yaml"); got != "stores: []\n" {
		t.Fatalf("stores.yaml = %q", got)
	}

	out, err := exec.Command("git", "-c", "protocol.version=0", "ls-remote", repo.URL()).CombinedOutput()
	if err != nil {
		t.Fatalf("ls-remote: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), sha+"\trefs/heads/main") {
		t.Fatalf("ls-remote output %q lacks %s", out, sha)
	}
	if c := s.Counts(); c.InfoRefs != 1 || c.UploadPack != 0 {
		t.Fatalf("counts after ls-remote = %+v", c)
	}
}

func TestServerStopStart(t *testing.T) {
	s := gittest.NewServer(t)
	repo := s.NewRepo(t, "r", nil)
	url := repo.URL() + "/info/refs?service=git-upload-pack"
	s.Stop()
	if _, err := http.Get(url); err == nil {
		t.Fatal("GET on a stopped server succeeded")
	}
	s.Start(t)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET after restart: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after restart = %d", resp.StatusCode)
	}
}

func TestServerAuth(t *testing.T) {
	s := gittest.NewServer(t)
	repo := s.NewRepo(t, "r", nil)
	s.RequireAuth(gittest.Credentials{Token: "s3cret"})
	url := repo.URL() + "/info/refs?service=git-upload-pack"

	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, http.StatusUnauthorized},
		{"wrong token", func(r *http.Request) { r.SetBasicAuth("git", "nope") }, http.StatusUnauthorized},
		{"basic token", func(r *http.Request) { r.SetBasicAuth("git", "s3cret") }, http.StatusOK},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			tc.set(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if c := s.Counts(); c.Unauthorized != 2 {
		t.Fatalf("Unauthorized = %d, want 2", c.Unauthorized)
	}
}
