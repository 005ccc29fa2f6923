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

// gitlab speaks the GitLab REST API v4; pull requests are merge requests
// there, and the project is named by its URL-encoded path.
type gitlab struct {
	c *client
}

type gitlabMR struct {
	IID             int       `json:"iid"`
	WebURL          string    `json:"web_url"`
	State           string    `json:"state"`
	Title           string    `json:"title"`
	Description     *string   `json:"description"`
	CreatedAt       time.Time `json:"created_at"`
	SourceBranch    string    `json:"source_branch"`
	TargetBranch    string    `json:"target_branch"`
	SourceProjectID int64     `json:"source_project_id"`
	TargetProjectID int64     `json:"target_project_id"`
}

// own reports whether m comes from a branch of the project itself, not
// from a fork.
func (m gitlabMR) own() bool { return m.SourceProjectID == m.TargetProjectID }

func (m gitlabMR) convert() PullRequest {
	state := StateOpen
	switch m.State {
	case "merged":
		state = StateMerged
	case "closed":
		state = StateClosed
	}
	// "opened", and "locked": a merge request being merged right now.
	pr := PullRequest{Number: m.IID, URL: m.WebURL, State: state, Head: m.SourceBranch, Base: m.TargetBranch,
		Title: m.Title, Created: m.CreatedAt}
	if m.Description != nil {
		pr.Body = *m.Description
	}
	return pr
}

func (g *gitlab) mrs(q url.Values) *url.URL {
	return g.c.endpoint(q, "projects", g.c.repo, "merge_requests")
}

// FindOpen asks for the opened merge requests from head into base.
func (g *gitlab) FindOpen(ctx context.Context, head, base string) (*PullRequest, error) {
	q := url.Values{"state": {"opened"}, "source_branch": {head}, "target_branch": {base}, "per_page": {"100"}}
	var list []gitlabMR
	if err := g.c.do(ctx, http.MethodGet, g.mrs(q), nil, &list); err != nil {
		return nil, err
	}
	for _, m := range list {
		if m.SourceBranch == head && m.TargetBranch == base && m.State == "opened" && m.own() {
			pr := m.convert()
			return &pr, nil
		}
	}
	return nil, nil
}

// Open creates the merge request; on 409 "Another open merge request
// already exists" it returns the open one.
func (g *gitlab) Open(ctx context.Context, head, base, title, body string) (*PullRequest, error) {
	in := map[string]any{"source_branch": head, "target_branch": base, "title": title, "description": body}
	var m gitlabMR
	err := g.c.do(ctx, http.MethodPost, g.mrs(nil), in, &m)
	if errors.Is(err, ErrConflict) {
		if pr, ferr := g.FindOpen(ctx, head, base); ferr == nil && pr != nil {
			return pr, nil
		}
	}
	if err != nil {
		return nil, err
	}
	pr := m.convert()
	return &pr, nil
}

// List pages through all merge requests, newest first.
func (g *gitlab) List(ctx context.Context, prefix string, limit int) ([]PullRequest, error) {
	const perPage = 100
	limit = listLimit(limit)
	var out []PullRequest
	for page := 1; page*perPage <= MaxListScan; page++ {
		q := url.Values{"state": {"all"}, "order_by": {"created_at"}, "sort": {"desc"},
			"per_page": {strconv.Itoa(perPage)}, "page": {strconv.Itoa(page)}}
		var list []gitlabMR
		if err := g.c.do(ctx, http.MethodGet, g.mrs(q), nil, &list); err != nil {
			return nil, err
		}
		for _, m := range list {
			if strings.HasPrefix(m.SourceBranch, prefix) && m.own() {
				out = append(out, m.convert())
			}
		}
		if len(out) >= limit || len(list) < perPage {
			break
		}
	}
	return newestFirst(out, limit), nil
}
