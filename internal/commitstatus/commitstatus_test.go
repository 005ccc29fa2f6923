package commitstatus_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/internal/commitstatus"
	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/reconcile"
)

type giteaStatus struct {
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// latest returns the newest storeops/sync status of sha on Gitea.
func latest(t *testing.T, g *giteatest.Gitea, sha string) (giteaStatus, bool) {
	t.Helper()
	// The combined status holds the newest status of each context.
	var combined struct {
		Statuses []giteaStatus `json:"statuses"`
	}
	if code := g.API(t, http.MethodGet, "/repos/"+g.RepoPath("config")+"/commits/"+sha+"/status", nil, &combined); code != http.StatusOK {
		t.Fatalf("combined status: %d", code)
	}
	for _, s := range combined.Statuses {
		if s.Context == commitstatus.Context {
			return s, true
		}
	}
	return giteaStatus{}, false
}

func want(t *testing.T, g *giteatest.Gitea, sha, state, description string) {
	t.Helper()
	got, ok := latest(t, g, sha)
	if !ok || got.State != state || !strings.Contains(got.Description, description) || got.TargetURL != "http://storeops.example/sync" {
		t.Fatalf("status of %s = %+v (found %v); want %s %q", sha[:7], got, ok, state, description)
	}
}

func stores(rev string, phases ...reconcile.Phase) *reconcile.Snapshot {
	s := &reconcile.Snapshot{Revision: rev}
	for i, p := range phases {
		s.Stores = append(s.Stores, reconcile.StoreStatus{Name: string(rune('a' + i)), Declared: true, Phase: p})
	}
	return s
}

// TestCommitStatusOnGitea follows revisions through their lives and reads
// what a real Gitea shows on each commit.
func TestCommitStatusOnGitea(t *testing.T) {
	g := giteatest.Start(t)
	ctx := context.Background()
	g.CreateRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n"})
	f, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("config"), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	setter, ok := forge.Statuses(f)
	if !ok {
		t.Fatal("the Gitea client sets no commit status")
	}
	board := reconcile.NewBoard()
	r := commitstatus.New(setter, board, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.TargetURL = "http://storeops.example/sync"

	// A revision is picked up: pending.
	one := g.WriteFile(t, "config", "main", "stores.yaml", "stores:\n  - name: a\n    type: woocommerce\n  - name: b\n    type: medusa\n", "two stores")
	r.Picked(one)
	r.Report(ctx)
	want(t, g, one, "pending", "applying "+one[:12])

	// Applied; one store still coming up: still pending.
	board.Publish(stores(one, reconcile.PhaseReady, reconcile.PhaseProvisioning))
	r.Synced(reconcile.SyncRecord{Revision: one})
	r.Report(ctx)
	want(t, g, one, "pending", "1 stores Ready, waiting for 1")

	// Every store Ready: success.
	board.Publish(stores(one, reconcile.PhaseReady, reconcile.PhaseReady))
	r.Report(ctx)
	want(t, g, one, "success", "applied; 2 stores Ready")

	// The next revision fails for one store: failure naming it.
	two := g.WriteFile(t, "config", "main", "stores.yaml", "stores:\n  - name: a\n    type: woocommerce\n    plan: large\n  - name: b\n    type: medusa\n", "grow a")
	r.Picked(two)
	board.Publish(stores(two, reconcile.PhaseFailed, reconcile.PhaseReady))
	r.Synced(reconcile.SyncRecord{Revision: two})
	r.Report(ctx)
	want(t, g, two, "failure", "1 of 2 stores failing: a Failed")
	want(t, g, one, "success", "") // the older commit keeps its status

	// An invalid file: failure with its located errors.
	three := g.WriteFile(t, "config", "main", "stores.yaml", "stores:\n  - name: My_Shop\n", "oops")
	r.Refused(three, &reconcile.Refusal{Reason: "InvalidConfig", Message: "stores.yaml is invalid",
		Errors: []string{`stores.yaml:2:11: stores[0].name: "My_Shop" is not a DNS label`}})
	r.Picked(two) // the daemon goes on syncing the last good revision at once
	r.Synced(reconcile.SyncRecord{Revision: two})
	r.Report(ctx)
	want(t, g, two, "failure", "1 of 2 stores failing: a Failed")
	want(t, g, three, "failure", `invalid stores.yaml: stores.yaml:2:11: stores[0].name: "My_Shop" is not a DNS label`)

	// The mass-deletion guard: failure with the reason.
	four := g.WriteFile(t, "config", "main", "stores.yaml", "stores: []\n", "empty")
	r.Picked(four)
	r.Synced(reconcile.SyncRecord{Revision: four, Refused: &reconcile.Refusal{Reason: "MassDeletion", Message: "refusing to delete 2 of 2 stores"}})
	r.Report(ctx)
	want(t, g, four, "failure", "mass-deletion guard: refusing to delete 2 of 2 stores")

	// Run posts by itself on the board's changes.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	five := g.WriteFile(t, "config", "main", "stores.yaml", "stores:\n  - name: a\n    type: woocommerce\n", "one store")
	r.Picked(five)
	r.Synced(reconcile.SyncRecord{Revision: five})
	board.Publish(stores(five, reconcile.PhaseReady))
	deadline := time.Now().Add(time.Minute)
	for {
		if s, ok := latest(t, g, five); ok && s.State == "success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not post success")
		}
		time.Sleep(50 * time.Millisecond) // polling Gitea: it sends no event to wait on
	}
}

func TestStatusDescriptions(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	cases := []struct {
		snap  *reconcile.Snapshot
		state string
		desc  string
	}{
		{nil, forge.StatusPending, "applying 0123456789ab"},
		{stores("other", reconcile.PhaseReady), forge.StatusPending, "applying"},
		{stores(rev, reconcile.PhaseReady, reconcile.PhaseSuspended), forge.StatusSuccess, "applied; 1 stores Ready"},
		{stores(rev, reconcile.PhaseBlocked, reconcile.PhaseFailed), forge.StatusFailure, "2 of 2 stores failing: a Blocked, b Failed"},
		{stores(rev, reconcile.PhaseReady, reconcile.PhaseDegraded), forge.StatusSuccess, "applied; 2 stores Ready"},
		{&reconcile.Snapshot{Revision: rev, Stores: []reconcile.StoreStatus{{Name: "gone", Phase: reconcile.PhaseDeleting}}},
			forge.StatusPending, "0 stores Ready, waiting for 1"},
	}
	for _, c := range cases {
		got := commitstatus.Status(rev, nil, true, c.snap)
		if got.State != c.state || !strings.Contains(got.Description, c.desc) || got.Context != "storeops/sync" {
			t.Errorf("Status(%+v) = %+v; want %s %q", c.snap, got, c.state, c.desc)
		}
	}
}
