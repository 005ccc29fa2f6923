package reconcile

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/storeops/storeops/render"
)

// ProbeInterval is how often a registered cluster is asked whether it
// answers (GET /readyz); the local cluster is never probed.
const ProbeInterval = 5 * time.Second

// Member is one target cluster: its observer, applier and event recorder,
// each talking to that cluster only.
type Member struct {
	// Name is the cluster's registered name; "" for the local cluster.
	Name     string
	Observer *Observer
	Applier  Applier
	Events   EventRecorder
	// Probe asks the cluster whether it answers; nil for the local
	// cluster, which is never held for being unreachable (storeops could
	// not read its own Leases either).
	Probe func(ctx context.Context) error
	// Config and Client reach the cluster (unfenced), for reads beyond
	// the observer's caches (storeops plan's diffs).
	Config *rest.Config
	Client kubernetes.Interface

	cancel context.CancelFunc
	synced atomic.Bool   // the caches were filled once
	ready  chan struct{} // closed then

	mu    sync.Mutex
	err   string // the last probe's failure; "" when it answered
	since time.Time
}

// Clusters is the set of target clusters a storeops instance places
// stores on: the local one and those registered (kubeconfig Secrets). It
// is the reconciler's Observation, Applier and EventRecorder, each call
// going to the cluster of the store it is about, and the plan's
// ClusterView (Policy.Clusters). A cluster that cannot be reached holds
// its own stores only.
type Clusters struct {
	// onChange is called with a cluster's name when it becomes ready or
	// stops being ready, or is added or removed: its stores are looked
	// at again.
	onChange func(cluster string)

	mu      sync.RWMutex
	members map[string]*Member
	broken  map[string]string // cluster: why its registration cannot be used

	moves atomic.Pointer[map[string]string] // store: "from>to"

	placedMu sync.Mutex
	placed   map[string]string // store namespace: the cluster last acted on for it
}

var (
	_ Observation   = (*Clusters)(nil)
	_ Applier       = (*Clusters)(nil)
	_ EventRecorder = (*Clusters)(nil)
	_ ClusterView   = (*Clusters)(nil)
)

// NewClusters returns an empty set; onChange may be nil.
func NewClusters(onChange func(cluster string)) *Clusters {
	if onChange == nil {
		onChange = func(string) {}
	}
	return &Clusters{onChange: onChange, members: map[string]*Member{}, broken: map[string]string{}}
}

// Add starts m's observer (and its probe) until ctx ends or m is replaced
// or removed, and makes it the member of its name. Its stores are held
// until its caches are filled.
func (c *Clusters) Add(ctx context.Context, m *Member) {
	ctx, m.cancel = context.WithCancel(ctx)
	m.since = time.Now()
	m.ready = make(chan struct{})
	c.mu.Lock()
	old := c.members[m.Name]
	c.members[m.Name] = m
	delete(c.broken, m.Name)
	c.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	go func() {
		if m.Observer.Start(ctx.Done()) {
			m.synced.Store(true)
			close(m.ready)
			c.onChange(m.Name)
		}
	}()
	if m.Probe != nil {
		go c.probe(ctx, m)
	}
	c.onChange(m.Name)
}

// Remove stops the named cluster's member; its stores are held as not
// registered, or, with a non-empty why, for that reason (a registration
// that cannot be used).
func (c *Clusters) Remove(name, why string) {
	c.mu.Lock()
	m := c.members[name]
	delete(c.members, name)
	if why != "" {
		c.broken[name] = why
	} else {
		delete(c.broken, name)
	}
	c.mu.Unlock()
	if m != nil {
		m.cancel()
	}
	c.onChange(name)
}

// WaitObserved waits until the named cluster's caches are filled, or ctx
// ends; it reports whether they are.
func (c *Clusters) WaitObserved(ctx context.Context, name string) bool {
	m := c.Member(name)
	if m == nil {
		return false
	}
	select {
	case <-m.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// Names lists the registered clusters, the local one ("") first.
func (c *Clusters) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.members))
	for n := range c.members {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Member returns the named cluster's member, nil when it is not
// registered.
func (c *Clusters) Member(name string) *Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.members[name]
}

func (c *Clusters) probe(ctx context.Context, m *Member) {
	t := time.NewTicker(ProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, ProbeInterval)
		err := m.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		m.mu.Lock()
		changed := (msg == "") != (m.err == "")
		if changed {
			m.since = time.Now()
		}
		m.err = msg
		m.mu.Unlock()
		if changed {
			c.onChange(m.Name)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Down says why storeops cannot act on the named cluster now; "" when it
// can.
func (c *Clusters) Down(cluster string) string {
	c.mu.RLock()
	m, why := c.members[cluster], c.broken[cluster]
	c.mu.RUnlock()
	switch {
	case m != nil:
		return m.down()
	case why != "":
		return fmt.Sprintf("cluster %s cannot be used: %s", render.ClusterName(cluster), why)
	}
	return fmt.Sprintf("cluster %s is not registered (no cluster Secret of that name in storeops' namespace)", render.ClusterName(cluster))
}

func (m *Member) down() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.err != "":
		return fmt.Sprintf("cluster %s has not answered since %s: %s", render.ClusterName(m.Name), m.since.UTC().Format(time.RFC3339), m.err)
	case !m.synced.Load():
		return fmt.Sprintf("cluster %s has not been observed yet (its caches are filling)", render.ClusterName(m.Name))
	}
	return ""
}

// Unseen names a registered cluster not observed since the start (the
// first such by name); "" when every one was. The plan asks it for every
// store: one pass, nothing allocated.
func (c *Clusters) Unseen() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	unseen, found := "", false
	for n, m := range c.members {
		if !m.synced.Load() && (!found || n < unseen) {
			unseen, found = n, true
		}
	}
	if !found {
		return ""
	}
	return render.ClusterName(unseen)
}

// SetMoves replaces the confirmed moves: store name to "from>to" (cluster
// names as in stores.yaml, "local" for the local one).
func (c *Clusters) SetMoves(moves map[string]string) { c.moves.Store(&moves) }

// MoveConfirmed reports whether moving store from one cluster to another
// was confirmed.
func (c *Clusters) MoveConfirmed(store, from, to string) bool {
	p := c.moves.Load()
	return p != nil && (*p)[store] == MoveKey(from, to)
}

// MoveKey is how a confirmed move is written: "from>to", with "local" for
// the local cluster.
func MoveKey(from, to string) string { return render.ClusterName(from) + ">" + render.ClusterName(to) }

// Statuses describes every registered cluster, the local one first; nil
// when the local one is the only one.
func (c *Clusters) Statuses() []ClusterStatus {
	var out []ClusterStatus
	for _, n := range c.Names() {
		m := c.Member(n)
		if m == nil {
			continue
		}
		why := m.down()
		m.mu.Lock()
		since := m.since
		m.mu.Unlock()
		out = append(out, ClusterStatus{Name: render.ClusterName(n), Ready: why == "", Message: why, Since: since})
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for n := range c.broken {
		out = append(out, ClusterStatus{Name: render.ClusterName(n), Message: c.broken[n]})
	}
	if len(out) == 1 && out[0].Name == render.LocalCluster {
		return nil // one cluster: nothing to tell
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Name != out[j].Name && (out[i].Name == render.LocalCluster || out[j].Name != render.LocalCluster && out[i].Name < out[j].Name)
	})
	return out
}

// ready returns the members whose caches are filled, in name order: what
// they observe is known (if perhaps stale, while one is unreachable).
func (c *Clusters) ready() []*Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Member, 0, len(c.members))
	for _, m := range c.members {
		if m.synced.Load() {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// merge adds a copy of a store found on cluster m to what was found
// before: the first found (local first, then by name) is the primary, the
// others its Others.
func merge(prev, o *ObservedStore, cluster string) *ObservedStore {
	o.Cluster = cluster
	if prev == nil {
		return o
	}
	prev.Others = append(prev.Others, o)
	return prev
}

// Observe returns every store found on the clusters observed so far.
func (c *Clusters) Observe() Observed {
	ready := c.ready()
	if len(ready) == 1 { // one cluster: its observation, tagged
		out := ready[0].Observer.Observe()
		for _, o := range out.Stores {
			o.Cluster = ready[0].Name
		}
		return out
	}
	out := Observed{Stores: map[string]*ObservedStore{}}
	for _, m := range ready {
		for name, o := range m.Observer.Observe().Stores {
			out.Stores[name] = merge(out.Stores[name], o, m.Name)
		}
	}
	return out
}

// StoreNames returns the stores found on the clusters observed so far,
// without observing them.
func (c *Clusters) StoreNames() []string {
	var out []string
	for _, m := range c.ready() {
		out = append(out, m.Observer.StoreNames()...)
	}
	return out
}

// ObserveStore returns one store as found on the clusters observed so far
// (nil when found on none).
func (c *Clusters) ObserveStore(name string) *ObservedStore {
	var out *ObservedStore
	for _, m := range c.ready() {
		if o := m.Observer.ObserveStore(name); o != nil {
			out = merge(out, o, m.Name)
		}
	}
	return out
}

// Apply runs the action on the cluster of the store: where it lives, or,
// for one found nowhere, where stores.yaml places it.
func (c *Clusters) Apply(ctx context.Context, a Action, gitRevision string) error {
	cluster := ""
	switch {
	case a.Observed != nil && a.Observed.Namespace != nil:
		cluster = a.Observed.Cluster
	case a.Desired != nil:
		cluster = a.Desired.Store.Cluster
	}
	m := c.Member(cluster)
	if m == nil {
		return fmt.Errorf("cluster %s is not registered", render.ClusterName(cluster))
	}
	c.placedMu.Lock()
	if c.placed == nil {
		c.placed = map[string]string{}
	}
	c.placed[render.NamespacePrefix+a.Store] = cluster
	c.placedMu.Unlock()
	return m.Applier.Apply(ctx, a, gitRevision)
}

// StoreEvent records the event on the cluster last acted on for namespace
// ns, else the one holding it (the local one when none is known to).
func (c *Clusters) StoreEvent(ns string, uid types.UID, inNamespace, warning bool, reason, action, note string, release string, revision int) {
	target := c.Member("")
	c.placedMu.Lock()
	cluster, acted := c.placed[ns]
	c.placedMu.Unlock()
	if m := c.Member(cluster); acted && m != nil {
		target = m
	} else {
		target = c.holding(ns, target)
	}
	if target == nil || target.Events == nil {
		return
	}
	target.Events.StoreEvent(ns, uid, inNamespace, warning, reason, action, note, release, revision)
}

// holding returns the member whose cache holds namespace ns, else def.
func (c *Clusters) holding(ns string, def *Member) *Member {
	target := def
	for _, m := range c.ready() {
		if _, ok, _ := m.Observer.namespaces.GetStore().GetByKey(ns); ok {
			target = m
			break
		}
	}
	return target
}
