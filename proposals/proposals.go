// Package proposals turns a change asked for on the dashboard (add a store,
// remove a store) into a pull request against the config repository: edit
// stores.yaml with render's comment-preserving edits, validate the whole new
// file, push a branch named after the change, and open a pull request on
// the forge (Gitea, GitHub or GitLab), never two for the same change.
package proposals

import (
	"context"
	"time"

	"github.com/storeops/storeops/render"
)

// Kind is what a proposal changes.
type Kind string

// The kinds of proposal.
const (
	KindCreate Kind = "create"
	KindDelete Kind = "delete"
)

// State is a pull request's state on the forge.
type State string

// Pull request states.
const (
	StateOpen   State = "open"
	StateMerged State = "merged"
	StateClosed State = "closed"
)

// Proposal is a pull request opened (or found) for one change.
type Proposal struct {
	Kind   Kind   `json:"kind"`
	Store  string `json:"store"`
	Branch string `json:"branch"`
	Number int    `json:"number"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	State  State  `json:"state"`
	// Existing is true when an open pull request already proposed this
	// change and was returned instead of a new one.
	Existing bool      `json:"existing"`
	Author   string    `json:"author,omitempty"`
	Created  time.Time `json:"created"`
}

// Proposer opens pull requests for dashboard changes. user is the
// authenticated person asking, recorded in the commit and the body.
type Proposer interface {
	// ProposeCreate adds a store. Invalid fields come back as
	// render.FieldErrors; a file that would be invalid as a whole as a
	// render.ErrorList.
	ProposeCreate(ctx context.Context, s render.NewStore, user string) (Proposal, error)
	// ProposeDelete removes a store; render.ErrNoSuchStore if it is not
	// declared.
	ProposeDelete(ctx context.Context, name, user string) (Proposal, error)
	// List returns the pull requests opened from storeops branches, newest
	// first, with their current state.
	List(ctx context.Context) ([]Proposal, error)
}

// BranchPrefix starts the name of every branch storeops pushes.
const BranchPrefix = "storeops/"

// Branch is the deterministic branch of a change: the same change always
// maps to the same branch, which is how duplicates are found.
func Branch(kind Kind, store string) string {
	switch kind {
	case KindDelete:
		return BranchPrefix + "remove-" + store
	default:
		return BranchPrefix + "add-" + store
	}
}
