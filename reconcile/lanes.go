package reconcile

import (
	"sync"

	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/storeops/storeops/render"
)

// lanes orders the work queue (it is the workqueue's Queue): the stores
// the newest revision changed come first, the others after them in the
// order they came. What a person just pushed is acted on before the
// backlog of an earlier revision, the informer events of hundreds of
// installing stores, and the backoff of failing ones.
//
// The workqueue calls Touch, Push, Len and Pop under its own lock; mu
// guards the lanes for Urgent, which is called without it.
type lanes struct {
	urgent  func(store string) bool
	express func(store string) bool
	// wake is signalled whenever a store enters the first lane.
	wake chan struct{}

	mu          sync.Mutex
	first, rest []string
}

func newLanes(urgent, express func(string) bool) *lanes {
	return &lanes{urgent: urgent, express: express, wake: make(chan struct{}, 1)}
}

// Touch moves a queued store that became urgent to the first lane.
func (l *lanes) Touch(store string) {
	if !l.urgent(store) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.rest {
		if s == store {
			l.rest = append(l.rest[:i], l.rest[i+1:]...)
			l.pushFirstLocked(store)
			return
		}
	}
}

func (l *lanes) Push(store string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.urgent(store) {
		l.pushFirstLocked(store)
		return
	}
	l.rest = append(l.rest, store)
}

func (l *lanes) pushFirstLocked(store string) {
	l.first = append(l.first, store)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lanes) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.first) + len(l.rest)
}

// Pop takes the oldest urgent store, or else the oldest of the rest. A
// store that stopped being urgent (a newer revision changed others) joins
// the rest on the way.
func (l *lanes) Pop() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.first) > 0 {
		s := l.first[0]
		l.first[0] = ""
		l.first = l.first[1:]
		if l.urgent(s) {
			return s
		}
		l.rest = append(l.rest, s)
	}
	s := l.rest[0]
	l.rest[0] = ""
	l.rest = l.rest[1:]
	return s
}

// Express reports whether a store for the express worker waits first in
// line: the next Pop takes it (or an urgent store before it).
func (l *lanes) Express() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.first {
		if l.express(s) {
			return true
		}
	}
	return false
}

// changedStores returns the stores whose desired state differs between
// two revisions: added, removed or changed. Every store is new when there
// was no revision before. Desired states compare by their fingerprints.
func changedStores(before, after map[string]*render.Desired) map[string]bool {
	out := map[string]bool{}
	for name, d := range after {
		if b, ok := before[name]; !ok || !sameDesired(b, d) {
			out[name] = true
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out[name] = true
		}
	}
	return out
}

// sameDesired compares two desired states by their fingerprints (computed
// now if rendering left none), or field by field if one cannot be encoded.
func sameDesired(a, b *render.Desired) bool {
	fa, fb := a.Fingerprint, b.Fingerprint
	if fa == "" {
		fa = render.Fingerprint(a)
	}
	if fb == "" {
		fb = render.Fingerprint(b)
	}
	if fa == "" || fb == "" {
		return apiequality.Semantic.DeepEqual(a, b)
	}
	return fa == fb
}
