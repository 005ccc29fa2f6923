package preview

import (
	"testing"

	"github.com/storeops/storeops/forge"
)

func TestHeadOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		pr   forge.PullRequest
		want string // the full name of the ref read; "" for an error
	}{
		{"own branch", forge.PullRequest{Head: "add-c", HeadRef: "refs/pull/3/head"}, "refs/heads/add-c"},
		{"fork", forge.PullRequest{Head: "add-c", Fork: true, HeadRef: "refs/pull/3/head"}, "refs/pull/3/head"},
		{"fork on GitLab", forge.PullRequest{Head: "main", Fork: true, HeadRef: "refs/merge-requests/3/head"}, "refs/merge-requests/3/head"},
		{"head named by its ref only", forge.PullRequest{Head: "refs/pull/3/head", HeadRef: "refs/pull/3/head"}, "refs/pull/3/head"},
		{"fork without a ref", forge.PullRequest{Head: "add-c", Fork: true}, ""},
	} {
		got, err := headOf(tc.pr)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: read %s, want an error", tc.name, got.name())
		case tc.want != "" && (err != nil || got.name() != tc.want):
			t.Errorf("%s: read %s, %v; want %s", tc.name, got.name(), err, tc.want)
		}
	}
}
