// Package reconcile makes the cluster match the stores declared in
// stores.yaml.
//
// A sync has three steps:
//
//  1. Observe reads the live state of every managed store from client-go
//     informer caches: namespaces labelled app.kubernetes.io/managed-by=storeops,
//     their quota, limit range and network policy, the credentials Secret,
//     the Helm release records (Helm's storage Secrets) and the health of the
//     workloads. Reading caches costs no API call, so a sync that finds
//     nothing to do makes no request at all.
//  2. Plan is a pure function of the desired stores (from package render),
//     the observed state and a Policy. It returns Actions, each with a
//     reason and, where something changed, a go-cmp diff. It holds every
//     decision: create, upgrade, repair, delete, unlock a stuck release,
//     remediate a failed one, skip a suspended store, and refuse a plan that
//     would delete too many stores at once (the mass-deletion guard).
//  3. Apply runs the actions with bounded parallelism, one at a time per
//     store, through the Helm SDK in-process and client-go. Every action is
//     idempotent: after a crash the next sync observes what was half done
//     and finishes or repairs it. Apply does not wait for workloads to
//     become ready; the informers notice readiness as it happens and move
//     the store to Ready (or to Failed after its timeout, which the next
//     plan remediates).
//
// After every step a new immutable Snapshot is published on a Board for the
// status API and the dashboard.
package reconcile
