package giteatest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// Author is the identity of the commits the helpers make.
const (
	AuthorName  = "Store Tester"
	AuthorEmail = "tester@storeops.test"
)

// API sends one request to the API as the admin (path below /api/v1,
// e.g. "/repos/o/r/pulls"), with in as JSON when not nil, decodes a 2xx
// answer into out when not nil, and returns the status. Statuses other
// than 2xx are returned, not failed on; transport errors fail the test.
func (g *Gitea) API(tb testing.TB, method, path string, in, out any) int {
	tb.Helper()
	status, body, err := g.api(method, path, in, out)
	if err != nil {
		tb.Fatalf("giteatest: %s %s: %v\n%s", method, path, err, body)
	}
	return status
}

func (g *Gitea) api(method, path string, in, out any) (int, []byte, error) {
	return g.apiAs(func(r *http.Request) { r.Header.Set("Authorization", "token "+g.token) }, method, path, in, out)
}

// apiAs is api with the credentials auth sets on the request.
func (g *Gitea) apiAs(auth func(*http.Request), method, path string, in, out any) (int, []byte, error) {
	var rd io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, g.url+"/api/v1"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	auth(req)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode/100 == 2 && out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, body, fmt.Errorf("decode: %w", err)
		}
	}
	return resp.StatusCode, body, nil
}

// mustAPI is API that fails the test unless the status is 2xx.
func (g *Gitea) mustAPI(tb testing.TB, method, path string, in, out any) {
	tb.Helper()
	status, body, err := g.api(method, path, in, out)
	if err != nil || status/100 != 2 {
		tb.Fatalf("giteatest: %s %s: %d %v\n%s", method, path, status, err, body)
	}
}

// RepoPath is "owner/name" of the admin's repository name, as a forge
// client wants it.
func (g *Gitea) RepoPath(name string) string { return adminUser + "/" + name }

func (g *Gitea) repoAPI(name string) string {
	return "/repos/" + adminUser + "/" + url.PathEscape(name)
}

// CreateRepo creates the public repository name owned by the admin, with
// one commit on main holding files (path to content) when there are
// any, and returns its HTTP clone URL. Clients authenticate with Token
// as the password (any user name).
func (g *Gitea) CreateRepo(tb testing.TB, name string, files map[string]string) string {
	tb.Helper()
	g.mustAPI(tb, http.MethodPost, "/user/repos", map[string]any{
		"name": name, "default_branch": "main", "auto_init": false, "private": false,
	}, nil)
	if len(files) > 0 {
		paths := make([]string, 0, len(files))
		for p := range files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		var ops []map[string]any
		for _, p := range paths {
			ops = append(ops, map[string]any{"operation": "create", "path": p,
				"content": base64.StdEncoding.EncodeToString([]byte(files[p]))})
		}
		g.mustAPI(tb, http.MethodPost, g.repoAPI(name)+"/contents", map[string]any{
			"branch": "main", "message": "Initial commit", "files": ops,
			"author":    map[string]string{"name": AuthorName, "email": AuthorEmail},
			"committer": map[string]string{"name": AuthorName, "email": AuthorEmail},
		}, nil)
	}
	return g.url + "/" + adminUser + "/" + name + ".git"
}

// WriteFile commits content at path on branch of repository repo (an
// existing branch) with message msg, and returns the new commit's SHA-1.
func (g *Gitea) WriteFile(tb testing.TB, repo, branch, path, content, msg string) string {
	tb.Helper()
	return g.admin().writeFile(tb, repo, branch, path, content, msg)
}

// account is a user of the server and its token; the helpers act on
// its repositories.
type account struct {
	g     *Gitea
	name  string
	token string
}

func (g *Gitea) admin() account { return account{g: g, name: adminUser, token: g.token} }

func (a account) api(method, path string, in, out any) (int, []byte, error) {
	return a.g.apiAs(func(r *http.Request) { r.Header.Set("Authorization", "token "+a.token) }, method, path, in, out)
}

func (a account) mustAPI(tb testing.TB, method, path string, in, out any) {
	tb.Helper()
	status, body, err := a.api(method, path, in, out)
	if err != nil || status/100 != 2 {
		tb.Fatalf("giteatest: %s: %s %s: %d %v\n%s", a.name, method, path, status, err, body)
	}
}

func (a account) repoAPI(name string) string {
	return "/repos/" + url.PathEscape(a.name) + "/" + url.PathEscape(name)
}

func (a account) writeFile(tb testing.TB, repo, branch, path, content, msg string) string {
	tb.Helper()
	var cur struct {
		SHA string `json:"sha"`
	}
	op := "create"
	q := "?ref=" + url.QueryEscape(branch)
	status, body, err := a.api(http.MethodGet, a.repoAPI(repo)+"/contents/"+escapePath(path)+q, nil, &cur)
	if err != nil {
		tb.Fatalf("giteatest: read %s at %s: %v\n%s", path, branch, err, body)
	}
	if status == http.StatusOK {
		op = "update"
	}
	var out struct {
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	a.mustAPI(tb, http.MethodPost, a.repoAPI(repo)+"/contents", map[string]any{
		"branch": branch, "message": msg,
		"files": []map[string]any{{"operation": op, "path": path, "sha": cur.SHA,
			"content": base64.StdEncoding.EncodeToString([]byte(content))}},
		"author":    map[string]string{"name": AuthorName, "email": AuthorEmail},
		"committer": map[string]string{"name": AuthorName, "email": AuthorEmail},
	}, &out)
	return out.Commit.SHA
}

// ReadFile returns the content of path at ref (a branch or commit) of
// repository repo.
func (g *Gitea) ReadFile(tb testing.TB, repo, ref, path string) string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url+"/api/v1"+g.repoAPI(repo)+"/raw/"+escapePath(path)+"?ref="+url.QueryEscape(ref), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+g.token)
	resp, err := g.http.Do(req)
	if err != nil {
		tb.Fatalf("giteatest: read %s at %s: %v", path, ref, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("giteatest: read %s at %s: %d %s", path, ref, resp.StatusCode, data)
	}
	return string(data)
}

// Branch is a branch's head commit and that commit's parents.
type Branch struct {
	Commit  string
	Parents []string
}

// BranchHead returns the head of branch of repository repo; ok is false
// when there is no such branch.
func (g *Gitea) BranchHead(tb testing.TB, repo, branch string) (b Branch, ok bool) {
	tb.Helper()
	var out struct {
		Commit struct {
			ID string `json:"id"`
		} `json:"commit"`
	}
	if g.API(tb, http.MethodGet, g.repoAPI(repo)+"/branches/"+escapePath(branch), nil, &out) != http.StatusOK {
		return Branch{}, false
	}
	var c struct {
		Parents []struct {
			SHA string `json:"sha"`
		} `json:"parents"`
	}
	g.mustAPI(tb, http.MethodGet, g.repoAPI(repo)+"/git/commits/"+out.Commit.ID+"?stat=false&files=false", nil, &c)
	b.Commit = out.Commit.ID
	for _, p := range c.Parents {
		b.Parents = append(b.Parents, p.SHA)
	}
	return b, true
}

// AddWebhook makes Gitea POST push events of repository repo to target
// as JSON, signed with secret, and returns the hook's id.
func (g *Gitea) AddWebhook(tb testing.TB, repo, target, secret string) int64 {
	tb.Helper()
	return g.AddHook(tb, repo, Hook{URL: target, Secret: secret})
}

// Hook is a webhook of type "gitea" as AddHook creates it.
type Hook struct {
	// URL is where Gitea POSTs the deliveries.
	URL string
	// Secret signs them (X-Gitea-Signature, over the JSON payload).
	Secret string
	// ContentType is "json" (when empty) or "form": a body
	// payload=<the JSON, URL-encoded>.
	ContentType string
	// Events are the events delivered; ["push"] when empty. "delete" is
	// sent when a branch or tag is deleted.
	Events []string
}

// AddHook adds webhook h to repository repo and returns its id.
func (g *Gitea) AddHook(tb testing.TB, repo string, h Hook) int64 {
	tb.Helper()
	if h.ContentType == "" {
		h.ContentType = "json"
	}
	if len(h.Events) == 0 {
		h.Events = []string{"push"}
	}
	var out struct {
		ID int64 `json:"id"`
	}
	g.mustAPI(tb, http.MethodPost, g.repoAPI(repo)+"/hooks", map[string]any{
		"type":   "gitea",
		"config": map[string]string{"url": h.URL, "content_type": h.ContentType, "secret": h.Secret},
		"events": h.Events, "active": true, "branch_filter": "*",
	}, &out)
	return out.ID
}

// CreateBranch creates branch from the head of from in repository repo.
func (g *Gitea) CreateBranch(tb testing.TB, repo, branch, from string) {
	tb.Helper()
	g.admin().createBranch(tb, repo, branch, from)
}

func (a account) createBranch(tb testing.TB, repo, branch, from string) {
	tb.Helper()
	a.mustAPI(tb, http.MethodPost, a.repoAPI(repo)+"/branches",
		map[string]string{"new_branch_name": branch, "old_branch_name": from}, nil)
}

// DeleteBranch deletes branch of repository repo.
func (g *Gitea) DeleteBranch(tb testing.TB, repo, branch string) {
	tb.Helper()
	g.mustAPI(tb, http.MethodDelete, g.repoAPI(repo)+"/branches/"+escapePath(branch), nil, nil)
}

// Merge merges pull request number of repository repo with a merge
// commit, waiting (up to a minute) while Gitea still checks whether it
// can be merged.
func (g *Gitea) Merge(tb testing.TB, repo string, number int) {
	tb.Helper()
	path := fmt.Sprintf("%s/pulls/%d/merge", g.repoAPI(repo), number)
	deadline := time.Now().Add(time.Minute)
	for {
		status, body, err := g.api(http.MethodPost, path, map[string]any{"Do": "merge"}, nil)
		switch {
		case err != nil:
			tb.Fatalf("giteatest: merge #%d: %v", number, err)
		case status/100 == 2:
			return
		case (status == http.StatusMethodNotAllowed || status == http.StatusConflict) && time.Now().Before(deadline):
			// "Please try again later": the mergeability check is queued.
			time.Sleep(200 * time.Millisecond)
		default:
			tb.Fatalf("giteatest: merge #%d: %d %s", number, status, body)
		}
	}
}

// ClosePull closes pull request number of repository repo without
// merging it.
func (g *Gitea) ClosePull(tb testing.TB, repo string, number int) {
	tb.Helper()
	g.mustAPI(tb, http.MethodPatch, fmt.Sprintf("%s/pulls/%d", g.repoAPI(repo), number), map[string]any{"state": "closed"}, nil)
}

// Pull is the part of a pull request the tests look at.
type Pull struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Merged bool   `json:"merged"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	Head   struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

// Pulls returns the pull requests of repository repo in every state,
// newest first (the first 50).
func (g *Gitea) Pulls(tb testing.TB, repo string) []Pull {
	tb.Helper()
	var out []Pull
	g.mustAPI(tb, http.MethodGet, g.repoAPI(repo)+"/pulls?state=all&limit=50", nil, &out)
	return out
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
