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

// github speaks the GitHub REST API (api.github.com, or GitHub
// Enterprise's /api/v3).
type github struct {
	c           *client
	owner, name string
}

type githubPull struct {
	Number    int        `json:"number"`
	HTMLURL   string     `json:"html_url"`
	State     string     `json:"state"`
	Title     string     `json:"title"`
	Body      *string    `json:"body"`
	CreatedAt time.Time  `json:"created_at"`
	MergedAt  *time.Time `json:"merged_at"`
	Head      githubRef  `json:"head"`
	Base      githubRef  `json:"base"`
}

type githubRef struct {
	Ref  string `json:"ref"`
	Repo *struct {
		FullName string `json:"full_name"`
	} `json:"repo"`
}

// own reports whether p comes from a branch of the repository itself,
// not from a fork.
func (g *github) own(p githubPull) bool {
	return p.Head.Repo != nil && strings.EqualFold(p.Head.Repo.FullName, g.owner+"/"+g.name)
}

func (g *github) convert(p githubPull) PullRequest {
	state := StateOpen
	switch {
	case p.MergedAt != nil:
		state = StateMerged
	case p.State == "closed":
		state = StateClosed
	}
	pr := PullRequest{Number: p.Number, URL: p.HTMLURL, State: state, Head: p.Head.Ref, Base: p.Base.Ref,
		Title: p.Title, Created: p.CreatedAt}
	if p.Body != nil {
		pr.Body = *p.Body
	}
	return pr
}

func (g *github) pulls(q url.Values) *url.URL {
	return g.c.endpoint(q, "repos", g.owner, g.name, "pulls")
}

// FindOpen asks for the open pull requests from owner:head into base.
func (g *github) FindOpen(ctx context.Context, head, base string) (*PullRequest, error) {
	q := url.Values{"state": {"open"}, "head": {g.owner + ":" + head}, "base": {base}, "per_page": {"100"}}
	var list []githubPull
	if err := g.c.do(ctx, http.MethodGet, g.pulls(q), nil, &list); err != nil {
		return nil, err
	}
	for _, p := range list {
		if p.Head.Ref == head && p.Base.Ref == base && p.State == "open" && g.own(p) {
			pr := g.convert(p)
			return &pr, nil
		}
	}
	return nil, nil
}

// Open creates the pull request; on 422 "A pull request already exists"
// it returns the open one.
func (g *github) Open(ctx context.Context, head, base, title, body string) (*PullRequest, error) {
	in := map[string]any{"title": title, "head": head, "base": base, "body": body}
	var p githubPull
	err := g.c.do(ctx, http.MethodPost, g.pulls(nil), in, &p)
	if errors.Is(err, ErrConflict) {
		if pr, ferr := g.FindOpen(ctx, head, base); ferr == nil && pr != nil {
			return pr, nil
		}
	}
	if err != nil {
		return nil, err
	}
	pr := g.convert(p)
	return &pr, nil
}

// List pages through all pull requests, newest first.
func (g *github) List(ctx context.Context, prefix string, limit int) ([]PullRequest, error) {
	const perPage = 100
	limit = listLimit(limit)
	var out []PullRequest
	for page := 1; page*perPage <= MaxListScan; page++ {
		q := url.Values{"state": {"all"}, "sort": {"created"}, "direction": {"desc"},
			"per_page": {strconv.Itoa(perPage)}, "page": {strconv.Itoa(page)}}
		var list []githubPull
		if err := g.c.do(ctx, http.MethodGet, g.pulls(q), nil, &list); err != nil {
			return nil, err
		}
		for _, p := range list {
			if strings.HasPrefix(p.Head.Ref, prefix) && g.own(p) {
				out = append(out, g.convert(p))
			}
		}
		if len(out) >= limit || len(list) < perPage {
			break
		}
	}
	return newestFirst(out, limit), nil
}
