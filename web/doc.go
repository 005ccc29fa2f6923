// Package web serves storeops over HTTP with chi: the read-only JSON
// status API under /api/v1, push webhook receivers under /hooks/{provider},
// Prometheus metrics at /metrics, and the probes /healthz and /readyz.
//
// The API reads status snapshots from a reconcile.Board and, for pods,
// events and quota usage, the store's namespace through a ClusterReader.
// It never writes to the cluster. A webhook only authenticates the push
// and calls Config.Trigger; the sync runs later, in the daemon's loop.
//
// More routes, such as the dashboard, are added through Server.Router
// before serving. docs/api.md describes every endpoint and field.
package web
