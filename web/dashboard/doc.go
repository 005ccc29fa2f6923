// Package dashboard serves the storeops web dashboard: server-rendered
// pages of the stores, one store, the syncs and the pull requests opened
// from it, with live updates of the store list over Server-Sent Events.
//
// The dashboard only reads status (from a reconcile.Board and, for pods,
// events and quota, a web.ClusterReader). Its "create store" and "delete
// store" forms never touch the cluster: they call a proposals.Proposer,
// which opens a pull request against the stores repository.
//
// Pages are html/template files and one script and one stylesheet, all
// embedded, so that the Content-Security-Policy allows nothing inline and
// nothing from elsewhere. Proposing always requires an authenticated user
// (a static user's login session, a bearer token, or a header set by an
// authenticating proxy); every form carries a CSRF token bound to the
// browser's cookies and is checked against its Origin. docs/dashboard.md
// describes pages and configuration.
package dashboard
