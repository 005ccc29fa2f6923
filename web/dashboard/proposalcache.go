package dashboard

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/storeops/storeops/proposals"
)

// proposalsTTL is how long the proposals page reuses the forge's list: a
// page load is one forge API call at most every proposalsTTL, however many
// users reload it. A proposal made from this dashboard refreshes it.
const proposalsTTL = 30 * time.Second

// proposalCache is the last list of pull requests read from the forge.
// One reader fetches at a time; the others wait for its result.
type proposalCache struct {
	mu      sync.Mutex
	list    []proposals.Proposal
	fetched time.Time
	valid   bool
}

// get returns the cached list, or fetches it when older than
// proposalsTTL. Errors are not cached.
func (c *proposalCache) get(ctx context.Context, fetch func(context.Context) ([]proposals.Proposal, error)) ([]proposals.Proposal, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && time.Since(c.fetched) < proposalsTTL {
		return c.list, nil
	}
	list, err := fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.list, c.fetched, c.valid = list, time.Now(), true
	return list, nil
}

// forget drops the cached list, after a proposal changed it.
func (c *proposalCache) forget() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// requireLogin sends anonymous users to the login page, whatever the read
// rule: the proposals page shows the forge's pull requests and costs a
// forge API call.
func (d *dashboard) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identityOf(r.Context()).User == "" {
			d.needLogin(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
