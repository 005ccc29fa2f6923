package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/kubernetes"
)

// Sharded replicas take every revision in, each from its own caches,
// which may differ for a moment: judged by each, one replica could delete
// its share of a revision another refused. The first replica to judge a
// revision records its verdict on the sync-request Lease, under this
// annotation (a JSON object of revision to verdict, the newest
// maxVerdicts); the others take it instead of their own.
const (
	annotationGuardVerdicts = "storeops.dev/guard-verdicts"
	maxVerdicts             = 16
)

// verdict is the mass-deletion guard's judgement of one revision.
type verdict struct {
	// Refusal is the guard's message; empty when it let the revision
	// through.
	Refusal string    `json:"refusal,omitempty"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// verdicts records and reads the guard's verdicts on a Lease.
type verdicts struct {
	client          kubernetes.Interface
	namespace, name string
	member          string
	log             *slog.Logger
}

// judge is reconcile.Reconciler.Judge: the verdict recorded for revision,
// else this one, recorded. If the Lease cannot be read or written, this
// replica's own verdict holds (and is logged).
func (v *verdicts) judge(revision, refusal string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := v.record(ctx, revision, verdict{Refusal: refusal, By: v.member, At: time.Now().UTC()})
	if err != nil {
		v.log.Warn("cannot share the mass-deletion guard's verdict; this replica's holds", "revision", revision, "error", err)
		return refusal != "", refusal
	}
	return in.Refusal != "", in.Refusal
}

// record writes mine for revision unless a verdict is recorded, and
// returns the one in force.
func (v *verdicts) record(ctx context.Context, revision string, mine verdict) (verdict, error) {
	var inForce verdict
	err := editLease(ctx, v.client, v.namespace, v.name, func(l *coordinationv1.Lease) bool {
		all := map[string]verdict{}
		if raw := l.Annotations[annotationGuardVerdicts]; raw != "" {
			_ = json.Unmarshal([]byte(raw), &all) // unreadable: judged anew
		}
		if got, ok := all[revision]; ok {
			inForce = got
			return false
		}
		all[revision] = mine
		inForce = mine
		if len(all) > maxVerdicts {
			revs := make([]string, 0, len(all))
			for r := range all {
				revs = append(revs, r)
			}
			sort.Slice(revs, func(i, j int) bool { return all[revs[i]].At.After(all[revs[j]].At) })
			for _, r := range revs[maxVerdicts:] {
				delete(all, r)
			}
		}
		raw, _ := json.Marshal(all)
		l.Annotations[annotationGuardVerdicts] = string(raw)
		return true
	})
	return inForce, err
}
