package forge

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// newGitHub speaks the GitHub REST API (api.github.com, or GitHub
// Enterprise's /api/v3) for the repository owner/name. FindOpen asks for
// the open pull requests from owner:head; Open returns the open one on
// 422 "A pull request already exists".
func newGitHub(c *client, owner, name string) Forge {
	return &pulls[githubPull]{
		c:         c,
		path:      []string{"repos", owner, name, "pulls"},
		pageSize:  100,
		sizeParam: "per_page",
		openQuery: func(head, base string) url.Values {
			return url.Values{"state": {"open"}, "head": {owner + ":" + head}, "base": {base}}
		},
		listQuery: func() url.Values {
			return url.Values{"state": {"all"}, "sort": {"created"}, "direction": {"desc"}}
		},
		create: func(head, base, title, body string) map[string]any {
			return map[string]any{"title": title, "head": head, "base": base, "body": body}
		},
	}
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

// githubRef is the head or base of a pull request; its repo is null
// when that repository has been deleted (a fork, for the head).
type githubRef struct {
	Ref  string      `json:"ref"`
	Repo *githubRepo `json:"repo"`
}

type githubRepo struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
}

// entry converts p; it comes from a fork unless its head repository is
// the base repository (the same id, or, without ids, named repo).
func (p githubPull) entry(repo string) entry {
	state := StateOpen
	switch {
	case p.MergedAt != nil:
		state = StateMerged
	case p.State == "closed":
		state = StateClosed
	}
	head, base := p.Head.Repo, p.Base.Repo
	own := head != nil && strings.EqualFold(head.FullName, repo)
	if head != nil && base != nil && head.ID != 0 && base.ID != 0 {
		own = head.ID == base.ID
	}
	pr := PullRequest{Number: p.Number, URL: p.HTMLURL, State: state, Head: p.Head.Ref, Base: p.Base.Ref,
		Fork: !own, HeadRef: "refs/pull/" + strconv.Itoa(p.Number) + "/head", Title: p.Title, Created: p.CreatedAt}
	if p.Body != nil {
		pr.Body = *p.Body
	}
	return entry{PullRequest: pr, open: p.State == "open"}
}
