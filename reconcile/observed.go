package reconcile

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Observed is the live state of every store storeops manages, keyed by
// store name.
type Observed struct {
	Stores map[string]*ObservedStore
}

// ObservedStore is what lives in the cluster for one store. Nil fields are
// absent objects.
type ObservedStore struct {
	Name          string
	Namespace     *corev1.Namespace
	Quota         *corev1.ResourceQuota
	LimitRange    *corev1.LimitRange
	NetworkPolicy *networkingv1.NetworkPolicy
	// Credentials is true when the credentials Secret exists.
	Credentials bool
	// Release is the latest record of the store's Helm release.
	Release *ReleaseInfo
	// Workloads is the health of every workload object in the namespace.
	Workloads []Workload
	// Missing lists release objects ("Kind/name") that are gone from the
	// cluster, and Drifted those changed by hand (replicas, images).
	Missing, Drifted []string
}

// ReleaseInfo is the latest Helm release record of a store.
type ReleaseInfo struct {
	Name     string
	Revision int
	// Status is Helm's: deployed, failed, pending-install, pending-upgrade,
	// pending-rollback, uninstalling, superseded, uninstalled.
	Status       string
	ChartName    string
	ChartVersion string
	// ValuesChecksum is render.Checksum of the release's user values.
	ValuesChecksum string
	// Values are the release's user values (no secrets: credentials live
	// in the Secret the charts reference).
	Values map[string]any
	// GitRevision is the stores.yaml revision that produced it.
	GitRevision string
	Updated     time.Time
	// HasDeployedRevision is true when this or an earlier revision was
	// deployed, so a rollback has somewhere to go.
	HasDeployedRevision bool
}

// Terminating reports whether the store's namespace is being deleted.
func (o *ObservedStore) Terminating() bool {
	return o.Namespace != nil && o.Namespace.DeletionTimestamp != nil
}

// Helm release statuses storeops acts on.
const (
	StatusDeployed        = "deployed"
	StatusFailed          = "failed"
	StatusPendingInstall  = "pending-install"
	StatusPendingUpgrade  = "pending-upgrade"
	StatusPendingRollback = "pending-rollback"
	StatusUninstalling    = "uninstalling"
)

func pending(status string) bool {
	return status == StatusPendingInstall || status == StatusPendingUpgrade || status == StatusPendingRollback
}
