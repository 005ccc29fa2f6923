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
//     remediate a failed one, block a store a person must look at, skip a
//     suspended store, and refuse a plan that would delete too many stores
//     at once (the mass-deletion guard).
//  3. Apply runs the actions with bounded parallelism, one at a time per
//     store, through the Helm SDK in-process and client-go. Every action is
//     idempotent: after a crash the next sync observes what was half done
//     and finishes or repairs it. Apply does not wait for workloads to
//     become ready; the informers notice readiness as it happens and move
//     the store to Ready (or, for a revision that never became Ready, to
//     Failed after its timeout, which the next plan remediates).
//
// Safety rules that hold whatever the plan says:
//
//   - Readiness is recorded on each store namespace (ReadinessMarks) as soon as
//     the leader's informers see it, so that remediation touches only a
//     release revision that never became Ready, and never reinstalls a store
//     that ever held data (HeldData); such stores are Blocked instead.
//   - An instance (LabelInstance) sees and acts on only what it created, and
//     adopts a store namespace only with its proof of creation
//     (AnnotationOwner, an HMAC under the instance key).
//   - Credentials are never made again while a store's release or volumes
//     exist.
//   - Errors a person must fix (ErrTerminal) stall a store until its desired
//     or observed state changes.
//   - The applier's requests pass a Fence that is open only while the leader
//     Lease is held.
//
// After every step a new immutable Snapshot is published on a Board for the
// status API and the dashboard.
package reconcile
