package forge

import (
	"net/url"
	"strconv"
	"time"
)

// newGitLab speaks the GitLab REST API v4 for the project at path
// c.repo; pull requests are merge requests there, and the project is
// named by its URL-encoded path. Open returns the open merge request on
// 409 "Another open merge request already exists".
func newGitLab(c *client) Forge {
	return &pulls[gitlabMR]{
		c:         c,
		path:      []string{"projects", c.repo, "merge_requests"},
		pageSize:  100,
		sizeParam: "per_page",
		openQuery: func(head, base string) url.Values {
			return url.Values{"state": {"opened"}, "source_branch": {head}, "target_branch": {base}}
		},
		listQuery: func() url.Values {
			return url.Values{"state": {"all"}, "order_by": {"created_at"}, "sort": {"desc"}}
		},
		create: func(head, base, title, body string) map[string]any {
			return map[string]any{"source_branch": head, "target_branch": base, "title": title, "description": body}
		},
	}
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

// entry converts m; it comes from the project itself, not from a fork,
// when its source and target project are the same.
func (m gitlabMR) entry(string) entry {
	state := StateOpen
	switch m.State {
	case "merged":
		state = StateMerged
	case "closed":
		state = StateClosed
	}
	// "opened", and "locked": a merge request being merged right now.
	pr := PullRequest{Number: m.IID, URL: m.WebURL, State: state, Head: m.SourceBranch, Base: m.TargetBranch,
		Fork: m.SourceProjectID != m.TargetProjectID, HeadRef: "refs/merge-requests/" + strconv.Itoa(m.IID) + "/head",
		Title: m.Title, Created: m.CreatedAt}
	if m.Description != nil {
		pr.Body = *m.Description
	}
	return entry{PullRequest: pr, open: m.State == "opened"}
}
