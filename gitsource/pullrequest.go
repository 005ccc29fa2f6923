package gitsource

import (
	"errors"
	"strings"
)

// ErrPullRequestEvent marks an authenticated pull request (GitHub,
// Gitea) or merge request (GitLab) event. It wraps ErrIgnoredEvent: it
// never syncs, but a caller that previews pull requests may act on it.
var ErrPullRequestEvent = errors.New("webhook: pull request event")

// pullRequestEvent reports whether event names a pull request event of
// provider: GitHub's and Gitea's "pull_request" (Gitea also sends
// "pull_request_sync" and the like in its event type header), GitLab's
// "Merge Request Hook".
func pullRequestEvent(provider Provider, event string) bool {
	if provider == GitLab {
		return strings.EqualFold(event, "Merge Request Hook")
	}
	return provider != Generic && strings.HasPrefix(strings.ToLower(event), "pull_request")
}
