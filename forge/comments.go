package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Commenter keeps one comment of storeops on a pull request up to date.
// Every Forge that New returns is one: see Comments.
type Commenter interface {
	// UpsertComment makes body the text of the comment of pull request
	// number whose text contains marker (an HTML comment such as
	// "<!-- storeops:plan -->", which body must contain too): it edits
	// that comment when its text differs, or creates it when there is
	// none. changed reports whether the forge was written to.
	UpsertComment(ctx context.Context, number int, marker, body string) (changed bool, err error)
}

// Comments returns f's pull request comment API, or false for a Forge
// that has none (a test fake).
func Comments(f Forge) (Commenter, bool) {
	c, ok := f.(Commenter)
	return c, ok
}

type comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// commentsPath is where the comments of pull request number live:
// GitHub's and Gitea's issue comments, GitLab's merge request notes.
func (f *pulls[P]) commentsPath(number int) []string {
	repo := f.path[:len(f.path)-1]
	n := strconv.Itoa(number)
	if f.c.kind == KindGitLab {
		return append(append([]string{}, repo...), "merge_requests", n, "notes")
	}
	return append(append([]string{}, repo...), "issues", n, "comments")
}

// commentPath is the path of one comment, to edit it.
func (f *pulls[P]) commentPath(number int, id int64) []string {
	repo := f.path[:len(f.path)-1]
	i := strconv.FormatInt(id, 10)
	if f.c.kind == KindGitLab {
		return append(append([]string{}, repo...), "merge_requests", strconv.Itoa(number), "notes", i)
	}
	return append(append([]string{}, repo...), "issues", "comments", i)
}

// UpsertComment implements Commenter.
func (f *pulls[P]) UpsertComment(ctx context.Context, number int, marker, body string) (bool, error) {
	if marker == "" || !strings.Contains(body, marker) {
		return false, fmt.Errorf("%w: a comment body must hold its marker", ErrConfig)
	}
	found, err := f.findComment(ctx, number, marker)
	if err != nil {
		return false, err
	}
	in := map[string]any{"body": body}
	switch {
	case found == nil:
		return true, f.c.do(ctx, http.MethodPost, f.c.endpoint(nil, f.commentsPath(number)...), in, nil)
	case strings.TrimSpace(found.Body) == strings.TrimSpace(body):
		return false, nil
	case f.c.kind == KindGitLab:
		return true, f.c.do(ctx, http.MethodPut, f.c.endpoint(nil, f.commentPath(number, found.ID)...), in, nil)
	default:
		return true, f.c.do(ctx, http.MethodPatch, f.c.endpoint(nil, f.commentPath(number, found.ID)...), in, nil)
	}
}

// findComment pages through the comments of pull request number for the
// first one holding marker.
func (f *pulls[P]) findComment(ctx context.Context, number int, marker string) (*comment, error) {
	q := url.Values{}
	size := "per_page"
	if f.c.kind == KindGitea {
		size = "limit"
	}
	q.Set(size, strconv.Itoa(f.pageSize))
	seen := 0
	for page := 1; page <= maxPages; page++ {
		q.Set("page", strconv.Itoa(page))
		var list []comment
		h, err := f.c.doHeader(ctx, http.MethodGet, f.c.endpoint(q, f.commentsPath(number)...), nil, &list)
		if err != nil {
			return nil, err
		}
		for i := range list {
			if strings.Contains(list[i].Body, marker) {
				return &list[i], nil
			}
		}
		seen += len(list)
		if len(list) == 0 || !morePages(h, seen, len(list) >= f.pageSize) {
			return nil, nil
		}
	}
	return nil, nil
}
