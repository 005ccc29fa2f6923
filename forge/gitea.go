package forge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// gitea speaks the Gitea REST API v1 (Forgejo speaks the same).
type gitea struct {
	c           *client
	owner, name string
}

// giteaPageSize is Gitea's default cap on page sizes
// ([api] MAX_RESPONSE_ITEMS).
const giteaPageSize = 50

type giteaPull struct {
	Number    int       `json:"number"`
	HTMLURL   string    `json:"html_url"`
	State     string    `json:"state"`
	Merged    bool      `json:"merged"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	Head      giteaRef  `json:"head"`
	Base      giteaRef  `json:"base"`
}

type giteaRef struct {
	Ref    string `json:"ref"`
	RepoID int64  `json:"repo_id"`
}

// own reports whether p comes from a branch of the repository itself,
// not from a fork.
func (p giteaPull) own() bool { return p.Head.RepoID == p.Base.RepoID }

func (p giteaPull) convert() PullRequest {
	state := StateOpen
	switch {
	case p.Merged:
		state = StateMerged
	case p.State == "closed":
		state = StateClosed
	}
	return PullRequest{Number: p.Number, URL: p.HTMLURL, State: state, Head: p.Head.Ref, Base: p.Base.Ref,
		Title: p.Title, Body: p.Body, Created: p.CreatedAt}
}

func (g *gitea) pulls(q url.Values) *url.URL {
	return g.c.endpoint(q, "repos", g.owner, g.name, "pulls")
}

// FindOpen pages through the open pull requests into base and picks the
// one from head: Gitea cannot filter by head branch.
func (g *gitea) FindOpen(ctx context.Context, head, base string) (*PullRequest, error) {
	for page := 1; page*giteaPageSize <= MaxListScan; page++ {
		q := url.Values{"state": {"open"}, "base_branch": {base},
			"limit": {strconv.Itoa(giteaPageSize)}, "page": {strconv.Itoa(page)}}
		var list []giteaPull
		if err := g.c.do(ctx, http.MethodGet, g.pulls(q), nil, &list); err != nil {
			return nil, err
		}
		for _, p := range list {
			if p.Head.Ref == head && p.Base.Ref == base && p.State == "open" && !p.Merged && p.own() {
				pr := p.convert()
				return &pr, nil
			}
		}
		if len(list) < giteaPageSize {
			break
		}
	}
	return nil, nil
}

// Open creates the pull request; on 409 (one is already open for these
// branches) it returns the open one.
func (g *gitea) Open(ctx context.Context, head, base, title, body string) (*PullRequest, error) {
	in := map[string]any{"head": head, "base": base, "title": title, "body": body}
	var p giteaPull
	err := g.c.do(ctx, http.MethodPost, g.pulls(nil), in, &p)
	if errors.Is(err, ErrConflict) {
		if pr, ferr := g.FindOpen(ctx, head, base); ferr == nil && pr != nil {
			return pr, nil
		}
	}
	if err != nil {
		return nil, err
	}
	pr := p.convert()
	return &pr, nil
}

// List pages through all pull requests, newest first (Gitea's default
// order).
func (g *gitea) List(ctx context.Context, prefix string, limit int) ([]PullRequest, error) {
	limit = listLimit(limit)
	var out []PullRequest
	for page := 1; page*giteaPageSize <= MaxListScan; page++ {
		q := url.Values{"state": {"all"}, "limit": {strconv.Itoa(giteaPageSize)}, "page": {strconv.Itoa(page)}}
		var list []giteaPull
		if err := g.c.do(ctx, http.MethodGet, g.pulls(q), nil, &list); err != nil {
			return nil, err
		}
		for _, p := range list {
			if strings.HasPrefix(p.Head.Ref, prefix) && p.own() {
				out = append(out, p.convert())
			}
		}
		if len(out) >= limit || len(list) < giteaPageSize {
			break
		}
	}
	return newestFirst(out, limit), nil
}
