package forge

import (
	"cmp"
	"slices"
)

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
