// Package deploytest tests how storeops itself is deployed: the Helm chart in
// deploy/chart (lint, rendering, values schema, the least-privilege
// ClusterRole) and, against the real local API server of package
// testcluster, the storeops binary running as the chart's ServiceAccount:
// syncing stores of both types, deleting them, winning the leader Lease,
// and being refused what it must not do.
//
// It has no code of its own; everything is in its tests.
package deploytest
