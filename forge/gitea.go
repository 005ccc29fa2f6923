package forge

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// giteaPageSize is Gitea's default cap on page sizes
// ([api] MAX_RESPONSE_ITEMS).
const giteaPageSize = 50

// newGitea speaks the Gitea REST API v1 (Forgejo speaks the same) for
// the repository owner/name. Gitea cannot select pull requests by head
// branch, so FindOpen pages through the open ones into base; List relies
// on Gitea's default order, newest first. Open returns the open one on
// 409.
func newGitea(c *client, owner, name string) Forge {
	return &pulls[giteaPull]{
		c:         c,
		path:      []string{"repos", owner, name, "pulls"},
		pageSize:  giteaPageSize,
		sizeParam: "limit",
		openQuery: func(_, base string) url.Values {
			return url.Values{"state": {"open"}, "base_branch": {base}}
		},
		pageOpen: true,
		listQuery: func() url.Values {
			return url.Values{"state": {"all"}}
		},
		create: func(head, base, title, body string) map[string]any {
			return map[string]any{"head": head, "base": base, "title": title, "body": body}
		},
	}
}

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

// giteaRef is the head or base of a pull request. The head's label is
// its branch; its ref is the branch too while the branch exists, else
// (and for a pull request pushed with AGit, whose label is empty)
// refs/pull/<N>/head. The head's repo_id is -1 when its repository has
// been deleted.
type giteaRef struct {
	Label  string `json:"label"`
	Ref    string `json:"ref"`
	RepoID int64  `json:"repo_id"`
}

// entry converts p; it comes from the repository itself, not from a
// fork, when its head and base are in the same repository.
func (p giteaPull) entry(string) entry {
	state := StateOpen
	switch {
	case p.Merged:
		state = StateMerged
	case p.State == "closed":
		state = StateClosed
	}
	head := p.Head.Ref
	if p.Head.Label != "" && strings.HasPrefix(head, "refs/") {
		head = p.Head.Label // the branch is gone
	}
	pr := PullRequest{Number: p.Number, URL: p.HTMLURL, State: state, Head: head, Base: p.Base.Ref,
		Fork: p.Head.RepoID != p.Base.RepoID, HeadRef: "refs/pull/" + strconv.Itoa(p.Number) + "/head",
		Title: p.Title, Body: p.Body, Created: p.CreatedAt}
	return entry{PullRequest: pr, open: p.State == "open" && !p.Merged}
}
