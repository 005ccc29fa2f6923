package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storeops/storeops/internal/preview"
	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"github.com/storeops/storeops/web"
)

// phases lists the phases in the order the filter offers them.
var phases = reconcile.Phases

// storesPage is the data of stores.html and of the live rows.
type storesPage struct {
	Phases []reconcile.Phase
	Types  []render.Type
	// Phase and Type are the active filters, "" for all.
	Phase string
	Type  string
	// Query is the filter as a query string, for /events.
	Query  string
	Stores []reconcile.StoreStatus
	Total  int
}

// filter is the store list's filter: ?phase= and ?type=, each one value or
// empty for all, case-insensitive.
type filter struct {
	Phase reconcile.Phase
	Type  string
}

func parseFilter(q url.Values) (filter, string) {
	var f filter
	if v := q.Get("phase"); v != "" {
		for _, p := range phases {
			if strings.EqualFold(v, string(p)) {
				f.Phase = p
			}
		}
		if f.Phase == "" {
			return f, "Unknown phase filter; choose one from the list."
		}
	}
	if v := q.Get("type"); v != "" {
		for _, t := range render.Types {
			if strings.EqualFold(v, string(t)) {
				f.Type = string(t)
			}
		}
		if f.Type == "" {
			return f, "Unknown store type filter; choose one from the list."
		}
	}
	return f, ""
}

func (f filter) match(st reconcile.StoreStatus) bool {
	return (f.Phase == "" || st.Phase == f.Phase) && (f.Type == "" || st.Type == f.Type)
}

func (f filter) query() string {
	q := url.Values{}
	if f.Phase != "" {
		q.Set("phase", string(f.Phase))
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	return q.Encode()
}

func (f filter) page(snap *reconcile.Snapshot) storesPage {
	p := storesPage{Phases: phases, Types: render.Types, Phase: string(f.Phase), Type: f.Type,
		Query: f.query(), Total: len(snap.Stores), Stores: []reconcile.StoreStatus{}}
	for _, st := range snap.Stores {
		if f.match(st) {
			p.Stores = append(p.Stores, st)
		}
	}
	return p
}

func (d *dashboard) storesPage(w http.ResponseWriter, r *http.Request) {
	f, bad := parseFilter(r.URL.Query())
	if bad != "" {
		d.fail(w, r, http.StatusBadRequest, bad)
		return
	}
	snap := d.cfg.Board.Current()
	d.render(w, r, http.StatusOK, "stores.html", &view{Title: "Stores", Nav: "stores", Snap: snap, Data: f.page(snap)})
}

// storePage is the data of store.html.
type storePage struct {
	Store     reconcile.StoreStatus
	Revision  string
	ClusterOn bool
	Pods      []web.Pod
	PodsErr   string
	Events    []web.Event
	EventsErr string
	Quota     []quotaRow
	QuotaErr  string
	// The delete form: what was typed and what was wrong with it.
	Confirm     string
	DeleteError string
}

// quotaRow is one quota line with numbers for a <meter>.
type quotaRow struct {
	web.QuotaUsage
	UsedValue float64
	HardValue float64
	Percent   int
}

func quotaRows(q []web.QuotaUsage) []quotaRow {
	rows := make([]quotaRow, 0, len(q))
	for _, u := range q {
		row := quotaRow{QuotaUsage: u}
		used, err1 := resource.ParseQuantity(u.Used)
		hard, err2 := resource.ParseQuantity(u.Hard)
		if err1 == nil && err2 == nil {
			row.UsedValue, row.HardValue = used.AsApproximateFloat64(), hard.AsApproximateFloat64()
			if row.HardValue > 0 {
				row.Percent = int(100*row.UsedValue/row.HardValue + 0.5)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// storeOf returns the store named in the path from snap, or answers 404.
func (d *dashboard) storeOf(w http.ResponseWriter, r *http.Request, snap *reconcile.Snapshot) (reconcile.StoreStatus, bool) {
	name := chi.URLParam(r, "name")
	st, ok := snap.Store(name)
	if render.CheckName(name) != "" || !ok {
		d.fail(w, r, http.StatusNotFound, "There is no store by this name.")
		return st, false
	}
	return st, true
}

func (d *dashboard) storePage(w http.ResponseWriter, r *http.Request) {
	snap := d.cfg.Board.Current()
	st, ok := d.storeOf(w, r, snap)
	if !ok {
		return
	}
	d.renderStore(w, r, http.StatusOK, snap, st, storePage{})
}

// renderStore fills page with st and what the cluster says about it, then
// renders store.html.
func (d *dashboard) renderStore(w http.ResponseWriter, r *http.Request, status int, snap *reconcile.Snapshot, st reconcile.StoreStatus, page storePage) {
	page.Store, page.Revision = st, snap.Revision
	if d.cfg.Cluster != nil {
		page.ClusterOn = true
		d.readCluster(r.Context(), st, &page)
	}
	d.render(w, r, status, "store.html", &view{Title: st.Name, Nav: "stores", Snap: snap, Data: page})
}

// readCluster reads pods, events and quota of the store's namespace at the
// same time; a failed read is logged and shown as a short note.
func (d *dashboard) readCluster(ctx context.Context, st reconcile.StoreStatus, page *storePage) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	ns := render.NamespacePrefix + st.Name
	log := d.log.With("store", st.Name)
	note := func(what string, err error) string {
		log.WarnContext(ctx, "dashboard cluster read failed", "read", what, "error", err)
		return "Could not read the " + what + " from the cluster; the log has the details."
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		pods, err := d.cfg.Cluster.Pods(ctx, ns)
		if err != nil {
			page.PodsErr = note("pods", err)
		}
		page.Pods = pods
	})
	wg.Go(func() {
		events, err := d.cfg.Cluster.Events(ctx, ns, eventLimit)
		if err != nil {
			page.EventsErr = note("events", err)
		}
		page.Events = events[:min(len(events), eventLimit)]
	})
	wg.Go(func() {
		quota, err := d.cfg.Cluster.QuotaUsage(ctx, ns)
		if err != nil {
			page.QuotaErr = note("quota usage", err)
		}
		page.Quota = quotaRows(quota)
	})
	wg.Wait()
}

// syncPage is the data of sync.html.
type syncPage struct {
	History []reconcile.SyncRecord
}

func (d *dashboard) syncPage(w http.ResponseWriter, r *http.Request) {
	snap := d.cfg.Board.Current()
	h := snap.History
	if len(h) > historyLimit {
		h = h[:historyLimit]
	}
	d.render(w, r, http.StatusOK, "sync.html", &view{Title: "Sync", Nav: "sync", Snap: snap, Data: syncPage{History: h}})
}

// proposalsPage is the data of proposals.html.
type proposalsPage struct {
	Proposals []proposals.Proposal
	Error     string
	// Previews are the plan previews storeops commented on the open pull
	// requests, by number.
	Previews map[int]*preview.Preview
}

func (d *dashboard) proposalsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), proposeTimeout)
	defer cancel()
	list, err := d.proposals.get(ctx, d.cfg.Proposer.List)
	page := proposalsPage{Proposals: list, Previews: d.planPreviews()}
	status := http.StatusOK
	if err != nil {
		d.log.ErrorContext(ctx, "dashboard: list proposals", "error", err)
		page.Error = "Could not list the pull requests from the forge; the log has the details."
		status = http.StatusBadGateway
	}
	d.render(w, r, status, "proposals.html", &view{Title: "Proposals", Nav: "proposals", Data: page})
}
