package forge

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// pulls is the Forge of every kind: it pages through the repository's
// pull requests, tells the ones from forks, sorts them newest first and,
// when the forge refuses to open a second pull request for the same
// branches, finds the open one of the repository itself. Its fields
// hold what the forges say differently; P is the JSON form of one pull
// request.
type pulls[P pull] struct {
	c *client
	// path is the API path of the repository's pull requests.
	path []string
	// pageSize is how many pull requests one page asks for, in the query
	// parameter sizeParam.
	pageSize  int
	sizeParam string
	// openQuery selects the open pull requests from head into base.
	openQuery func(head, base string) url.Values
	// pageOpen makes FindOpen page through the open pull requests, for a
	// forge that cannot select them by head branch; otherwise FindOpen
	// reads one page.
	pageOpen bool
	// listQuery selects all pull requests, newest first.
	listQuery func() url.Values
	// create is the body of the request that opens a pull request.
	create func(head, base, title, body string) map[string]any
}

// pull is a forge's JSON form of one pull request.
type pull interface {
	// entry converts the pull request of the repository repo
	// ("owner/name", or GitLab's project path).
	entry(repo string) entry
}

// entry is one pull request as a forge listed it.
type entry struct {
	PullRequest
	// open is the forge's own open state: GitLab's "opened" and not
	// "locked", which PullRequest.State counts as open.
	open bool
}

func (f *pulls[P]) url(q url.Values) *url.URL {
	return f.c.endpoint(q, f.path...)
}

// FindOpen returns the first open pull request from head into base that
// comes from the repository itself.
func (f *pulls[P]) FindOpen(ctx context.Context, head, base string) (*PullRequest, error) {
	var found *PullRequest
	err := f.scan(ctx, f.openQuery(head, base), f.pageOpen, func(page []entry) bool {
		for _, e := range page {
			if e.Head == head && e.Base == base && e.open && !e.Fork {
				found = &e.PullRequest
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// Open creates the pull request; when the forge refuses it as a conflict
// (one is already open for these branches) it returns the open one.
func (f *pulls[P]) Open(ctx context.Context, head, base, title, body string) (*PullRequest, error) {
	var p P
	err := f.c.do(ctx, http.MethodPost, f.url(nil), f.create(head, base, title, body), &p)
	if errors.Is(err, ErrConflict) {
		if pr, ferr := f.FindOpen(ctx, head, base); ferr == nil && pr != nil {
			return pr, nil
		}
	}
	if err != nil {
		return nil, err
	}
	pr := p.entry(f.c.repo).PullRequest
	return &pr, nil
}

// List pages through all pull requests until it has limit of them or
// has seen MaxListScan, and returns them newest first.
func (f *pulls[P]) List(ctx context.Context, prefix string, limit int) ([]PullRequest, error) {
	limit = listLimit(limit)
	var out []PullRequest
	err := f.scan(ctx, f.listQuery(), true, func(page []entry) bool {
		for _, e := range page {
			if strings.HasPrefix(e.Head, prefix) {
				out = append(out, e.PullRequest)
			}
		}
		return len(out) >= limit
	})
	if err != nil {
		return nil, err
	}
	return newestFirst(out, limit), nil
}

// maxPages bounds the pages scan asks for, whatever their size.
const maxPages = 100

// scan asks for the pull requests q selects, pageSize at a time, and
// hands each page to visit until visit returns true. With paged it goes
// on while the forge says there is a next page, up to MaxListScan pull
// requests or maxPages pages; without, it asks once, for no page in
// particular.
//
// A page shorter than asked for is not the last one when the forge caps
// page sizes (Gitea's MAX_RESPONSE_ITEMS, which may be below 50): the
// Link header's rel="next" decides, else X-Total-Count (X-Total on
// GitLab), and only a forge that sends neither is taken to have no more
// after a short page.
func (f *pulls[P]) scan(ctx context.Context, q url.Values, paged bool, visit func(page []entry) bool) error {
	q.Set(f.sizeParam, strconv.Itoa(f.pageSize))
	seen := 0
	for page := 1; page <= maxPages && seen < MaxListScan; page++ {
		if paged {
			q.Set("page", strconv.Itoa(page))
		}
		var list []P
		h, err := f.c.doHeader(ctx, http.MethodGet, f.url(q), nil, &list)
		if err != nil {
			return err
		}
		seen += len(list)
		entries := make([]entry, len(list))
		for i, p := range list {
			entries[i] = p.entry(f.c.repo)
		}
		if visit(entries) || !paged || len(list) == 0 || !morePages(h, seen, len(list) >= f.pageSize) {
			break
		}
	}
	return nil
}

// morePages reads from the headers of a page whether another follows,
// seen being how many items came so far; full is the guess for a forge
// that says nothing: whether the page was as long as asked for.
func morePages(h http.Header, seen int, full bool) bool {
	if links := h.Values("Link"); len(links) > 0 {
		return hasNextLink(links)
	}
	for _, name := range []string{"X-Total-Count", "X-Total"} {
		if total, err := strconv.Atoi(strings.TrimSpace(h.Get(name))); err == nil {
			return seen < total
		}
	}
	return full
}

// hasNextLink reports whether the Link header values hold a link with
// rel="next" (RFC 8288).
func hasNextLink(values []string) bool {
	for _, v := range values {
		for _, link := range strings.Split(v, ",") {
			_, params, ok := strings.Cut(link, ";")
			if !ok {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.ToLower(strings.Trim(val, `"`))), "next") {
					return true
				}
			}
		}
	}
	return false
}

func listLimit(limit int) int {
	if limit <= 0 {
		return DefaultListLimit
	}
	return min(limit, MaxListScan)
}

// newestFirst sorts by creation time (then number), newest first, and
// keeps at most limit.
func newestFirst(prs []PullRequest, limit int) []PullRequest {
	slices.SortStableFunc(prs, func(a, b PullRequest) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(b.Number, a.Number)
	})
	if len(prs) > limit {
		prs = prs[:limit]
	}
	if prs == nil {
		prs = []PullRequest{}
	}
	return prs
}
