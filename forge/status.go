package forge

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// Commit status states, as GitHub and Gitea name them (GitLab's
// "failed" is StatusFailure).
const (
	StatusPending = "pending"
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusError   = "error"
)

// MaxStatusDescription is the longest description GitHub accepts (in
// characters); longer ones are shortened.
const MaxStatusDescription = 140

// CommitStatus is one status on a commit: a check named Context with a
// State, shown next to the commit and on its pull requests.
type CommitStatus struct {
	// Context names the check, e.g. "storeops/sync"; a new status of the
	// same context replaces the old one.
	Context string
	// State is StatusPending, StatusSuccess, StatusFailure or StatusError.
	State string
	// Description is one line for people (at most MaxStatusDescription
	// characters are sent).
	Description string
	// TargetURL is where the status links to ("" for none).
	TargetURL string
}

// StatusSetter sets commit statuses on the repository's commits. Every
// Forge that New returns is one: see Statuses.
type StatusSetter interface {
	SetStatus(ctx context.Context, sha string, s CommitStatus) error
}

// Statuses returns f's commit status API, or false for a Forge that has
// none (a test fake).
func Statuses(f Forge) (StatusSetter, bool) {
	s, ok := f.(StatusSetter)
	return s, ok
}

// SetStatus sets a commit status: GitHub's and Gitea's POST
// /repos/{owner}/{repo}/statuses/{sha}, GitLab's POST
// /projects/{id}/statuses/{sha}.
func (f *pulls[P]) SetStatus(ctx context.Context, sha string, s CommitStatus) error {
	switch s.State {
	case StatusPending, StatusSuccess, StatusFailure, StatusError:
	default:
		return fmt.Errorf("%w: commit status state %q", ErrConfig, s.State)
	}
	if sha == "" {
		return fmt.Errorf("%w: commit status without a commit", ErrConfig)
	}
	desc := shorten(s.Description, MaxStatusDescription)
	repo := f.path[:len(f.path)-1] // the repository, without "pulls" or "merge_requests"
	u := f.c.endpoint(nil, append(append([]string{}, repo...), "statuses", sha)...)
	var body map[string]any
	if f.c.kind == KindGitLab {
		state := s.State
		switch state {
		case StatusFailure, StatusError:
			state = "failed"
		}
		body = map[string]any{"state": state, "name": s.Context, "description": desc}
	} else {
		body = map[string]any{"state": s.State, "context": s.Context, "description": desc}
	}
	if s.TargetURL != "" {
		body["target_url"] = s.TargetURL
	}
	return f.c.do(ctx, "POST", u, body, nil)
}

// shorten keeps at most n characters of s, ending in "…" when cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
