package giteatest

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// User is an account other than the admin, with a token of its own: a
// contributor from outside, who forks the admin's repositories and
// opens pull requests from the forks.
type User struct {
	account
}

// Name is the user's name, the owner of its forks.
func (u *User) Name() string { return u.name }

// Token is an access token of the user with every scope.
func (u *User) Token() string { return u.token }

// CreateUser creates the user name (not an admin) and a token of its
// own, made with its password as a user makes one.
func (g *Gitea) CreateUser(tb testing.TB, name string) *User {
	tb.Helper()
	password := randomHex(16)
	g.mustAPI(tb, http.MethodPost, "/admin/users", map[string]any{
		"username": name, "email": name + "@storeops.test", "password": password,
		"must_change_password": false, "send_notify": false,
	}, nil)
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	basic := func(r *http.Request) { r.SetBasicAuth(name, password) }
	status, body, err := g.apiAs(basic, http.MethodPost, "/users/"+url.PathEscape(name)+"/tokens",
		map[string]any{"name": "storeops-test", "scopes": []string{"all"}}, &tok)
	if err != nil || status != http.StatusCreated || tok.SHA1 == "" {
		tb.Fatalf("giteatest: token of %s: %d %v\n%s", name, status, err, body)
	}
	return &User{account{g: g, name: name, token: tok.SHA1}}
}

// Fork forks the admin's repository repo into the user's account, under
// the same name, with all its branches, and returns the fork's clone
// URL.
func (u *User) Fork(tb testing.TB, repo string) string {
	tb.Helper()
	u.mustAPI(tb, http.MethodPost, u.g.repoAPI(repo)+"/forks", map[string]any{}, nil)
	return u.g.url + "/" + u.name + "/" + repo + ".git"
}

// CreateBranch creates branch from the head of from in the user's
// repository repo.
func (u *User) CreateBranch(tb testing.TB, repo, branch, from string) {
	tb.Helper()
	u.createBranch(tb, repo, branch, from)
}

// WriteFile commits content at path on branch of the user's repository
// repo (an existing branch) with message msg, pushed as the user, and
// returns the new commit's SHA-1.
func (u *User) WriteFile(tb testing.TB, repo, branch, path, content, msg string) string {
	tb.Helper()
	return u.writeFile(tb, repo, branch, path, content, msg)
}

// OpenPull opens, as the user, a pull request from branch of the user's
// fork into base of the admin's repository repo, and returns its number.
func (u *User) OpenPull(tb testing.TB, repo, branch, base, title string) int {
	tb.Helper()
	var out struct {
		Number int `json:"number"`
	}
	u.mustAPI(tb, http.MethodPost, u.g.repoAPI(repo)+"/pulls", map[string]any{
		"head": u.name + ":" + branch, "base": base, "title": title,
		"body": fmt.Sprintf("From %s's fork.", u.name),
	}, &out)
	return out.Number
}
