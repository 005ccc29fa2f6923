package reconcile

import (
	"sync"
	"time"
)

// Phase is where a store stands, in words a person reads on the dashboard.
type Phase string

// The phases of a store.
const (
	// PhasePending: declared, nothing applied yet.
	PhasePending Phase = "Pending"
	// PhaseProvisioning: applied, workloads not all ready yet.
	PhaseProvisioning Phase = "Provisioning"
	// PhaseReady: release deployed and every workload ready.
	PhaseReady Phase = "Ready"
	// PhaseDegraded: was ready, some workload is not any more.
	PhaseDegraded Phase = "Degraded"
	// PhaseFailed: the last action failed, or a new revision did not
	// become Ready in time; the next sync retries or remediates.
	PhaseFailed Phase = "Failed"
	// PhaseDeleting: no longer declared; being uninstalled.
	PhaseDeleting Phase = "Deleting"
	// PhaseSuspended: declared with suspend: true; left alone.
	PhaseSuspended Phase = "Suspended"
	// PhaseBlocked: a person must act (a namespace this instance did not
	// create, credentials deleted while the data exists, a store that
	// never became Ready but holds data); storeops changes nothing of it
	// until then. The message says what to do.
	PhaseBlocked Phase = "Blocked"
	// PhaseHeld: the store's target cluster cannot be acted on now (not
	// registered, unreachable, not observed yet); storeops changes nothing
	// of it until it can, and the other clusters' stores go on. The
	// message says why.
	PhaseHeld Phase = "Held"
	// PhaseUnknown: no revision of stores.yaml is known yet (Git
	// unreachable since the start, no cache): nothing is applied or
	// deleted.
	PhaseUnknown Phase = "Unknown"
)

// Phases lists every phase, in the order a person reads them.
var Phases = []Phase{PhasePending, PhaseProvisioning, PhaseReady, PhaseDegraded, PhaseFailed, PhaseBlocked, PhaseHeld, PhaseDeleting, PhaseSuspended, PhaseUnknown}

// Condition is one aspect of a store's state. LastTransition changes only
// when Status changes.
type Condition struct {
	Type           string    `json:"type"`
	Status         bool      `json:"status"`
	Reason         string    `json:"reason"`
	Message        string    `json:"message,omitempty"`
	LastTransition time.Time `json:"lastTransition"`
}

// Condition types.
const (
	CondReady     = "Ready"
	CondReleased  = "Released"  // the Helm release is deployed at the desired values
	CondIsolated  = "Isolated"  // namespace, quota, limit range, policy in place
	CondSuspended = "Suspended" // suspend: true
)

// Workload is the health of one workload object of a store.
type Workload struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Ready   bool   `json:"ready"`
	Failed  bool   `json:"failed,omitempty"`
	Message string `json:"message,omitempty"`
}

// StoreStatus is the published state of one store. It never holds
// credentials.
type StoreStatus struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Plan      string `json:"plan"`
	Domain    string `json:"domain"`
	Namespace string `json:"namespace"`
	// Declared is false for a store that is in the cluster but no longer in
	// stores.yaml.
	Declared   bool        `json:"declared"`
	Phase      Phase       `json:"phase"`
	Message    string      `json:"message,omitempty"`
	Conditions []Condition `json:"conditions"`
	// Release is the Helm release's revision, status and chart version.
	ReleaseRevision int    `json:"releaseRevision,omitempty"`
	ReleaseStatus   string `json:"releaseStatus,omitempty"`
	ChartVersion    string `json:"chartVersion,omitempty"`
	// AppliedRevision is the Git revision whose values are deployed.
	AppliedRevision string     `json:"appliedRevision,omitempty"`
	LastError       string     `json:"lastError,omitempty"`
	LastAction      *ActionLog `json:"lastAction,omitempty"`
	Workloads       []Workload `json:"workloads"`
	URLs            URLs       `json:"urls"`
	Since           time.Time  `json:"since"` // when Phase last changed
	// Replica is the replica acting on the store when the replicas share
	// the stores (serve --shards): the holder of its shard.
	Replica string `json:"replica,omitempty"`
	// Cluster is the target cluster the store lives on (where it was
	// found, else where stores.yaml places it); empty for the local one.
	Cluster string `json:"cluster,omitempty"`
}

// URLs of a store's public pages.
type URLs struct {
	Store string `json:"store"`
	Admin string `json:"admin"`
}

// ActionLog is an action as it was run.
type ActionLog struct {
	Store    string        `json:"store"`
	Kind     ActionKind    `json:"kind"`
	Reason   string        `json:"reason"`
	Diff     string        `json:"diff,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
}

// SyncRecord is one sync: what it saw, planned and did.
type SyncRecord struct {
	Revision string         `json:"revision"`
	Trigger  string         `json:"trigger"`
	Start    time.Time      `json:"start"`
	Duration time.Duration  `json:"duration"`
	Summary  map[string]int `json:"summary"` // actions by kind
	Actions  []ActionLog    `json:"actions"`
	Errors   []string       `json:"errors,omitempty"`
	// Running is true while stores this revision queued are still to be
	// acted on; Duration is set when the last one is done.
	Running bool `json:"running,omitempty"`
	// Refused says why the sync applied nothing: an invalid stores.yaml or
	// the mass-deletion guard.
	Refused *Refusal `json:"refused,omitempty"`
}

// Refusal is a sync that applied nothing, and why.
type Refusal struct {
	Reason string `json:"reason"` // "InvalidConfig", "MassDeletion", "SourceUnavailable", "UntrustedRevision"
	// Message is one line for people.
	Message string `json:"message"`
	// Errors are the located problems of an invalid file, one a line
	// ("stores.yaml:14:11: stores[2].name: ...").
	Errors []string `json:"errors,omitempty"`
}

// Snapshot is the whole published status. It is immutable once published:
// readers may keep it; the reconciler publishes a new one after each step.
type Snapshot struct {
	// Revision is the Git revision of the last valid stores.yaml applied
	// (or being applied).
	Revision string `json:"revision"`
	// Source describes the repository, branch and path.
	Source string `json:"source"`
	// Syncing is true while stores are queued or being acted on.
	Syncing bool `json:"syncing"`
	// Leader is true when this replica applies changes.
	Leader  bool          `json:"leader"`
	Stores  []StoreStatus `json:"stores"`
	History []SyncRecord  `json:"history"` // newest first
	// Refused is set while the newest revision is refused (invalid file,
	// mass-deletion guard, source unreachable); the last good state stays
	// applied.
	Refused   *Refusal  `json:"refused,omitempty"`
	Generated time.Time `json:"generated"`
	// Shards is set when the replicas share the stores (serve --shards).
	Shards *ShardView `json:"shards,omitempty"`
	// Clusters lists the target clusters when stores live on several.
	Clusters []ClusterStatus `json:"clusters,omitempty"`
}

// ClusterStatus is what storeops knows of one target cluster.
type ClusterStatus struct {
	// Name is the cluster's registered name; "local" for storeops' own.
	Name string `json:"name"`
	// Ready is true while storeops can act on the cluster.
	Ready bool `json:"ready"`
	// Message says why it cannot, when it cannot.
	Message string `json:"message,omitempty"`
	// Since is when Ready last changed.
	Since time.Time `json:"since"`
}

// ShardView is this replica's part of a fleet sharded between replicas.
type ShardView struct {
	// Member is this replica's id in the shard group.
	Member string `json:"member"`
	// Shards is the number of shards.
	Shards int `json:"shards"`
	// Members are the replicas seen alive.
	Members []string `json:"members"`
	// Held are the shards this replica acts on now.
	Held []int `json:"held"`
}

// Store returns the status of the named store.
func (s *Snapshot) Store(name string) (StoreStatus, bool) {
	for _, st := range s.Stores {
		if st.Name == name {
			return st, true
		}
	}
	return StoreStatus{}, false
}

// Board publishes snapshots: the reconciler writes, the API and dashboard
// read and subscribe. The zero value is not usable; use NewBoard.
type Board struct {
	mu   sync.Mutex
	cur  *Snapshot
	subs map[chan struct{}]struct{}
}

// NewBoard returns a Board holding an empty snapshot.
func NewBoard() *Board {
	return &Board{cur: &Snapshot{Stores: []StoreStatus{}, History: []SyncRecord{}}, subs: map[chan struct{}]struct{}{}}
}

// Current returns the latest snapshot. Do not modify it.
func (b *Board) Current() *Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// Publish replaces the snapshot and wakes the subscribers.
func (b *Board) Publish(s *Snapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur = s
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Subscribe returns a channel that receives a value after each Publish
// (wake-ups coalesce), and a function to cancel the subscription.
func (b *Board) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}
