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
	Name string
	// Cluster is the target cluster the store was found on ("" for the
	// local one). Others are its copies found on other clusters (several
	// target clusters; see Clusters), which On picks from.
	Cluster       string
	Others        []*ObservedStore
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
	// Owned is true when the namespace carries this instance's proof of
	// creation (AnnotationOwner); storeops acts only on owned namespaces.
	Owned bool
	// ReadyRevision is the last release revision seen Ready (0: none), from
	// the namespace's AnnotationReadyRevision.
	ReadyRevision int
	// DataSince is when a workload holding the store's data was first seen
	// Ready (zero: never), from AnnotationDataSince.
	DataSince time.Time
	// BoundVolumes counts the namespace's PersistentVolumeClaims bound to a
	// volume, now or once (a Lost claim still names its volume).
	BoundVolumes int
	// Volumes counts the namespace's PersistentVolumeClaims.
	Volumes int
	// Unsynced is true while the Secrets of the store's namespace (its
	// credentials, its Helm release records) are not in the observer's
	// cache yet: Credentials, Release, Missing and Drifted are then
	// unknown, not absent, and the store is not planned from them.
	Unsynced bool
	// SecretsRefused is true, with Unsynced, when storeops may not read
	// the Secrets of the store's namespace: its RoleBinding of the store
	// role is missing (see StoreRole).
	SecretsRefused bool
}

// On returns the copy of the store found on cluster, if there is one;
// otherwise o itself (nil stays nil).
func (o *ObservedStore) On(cluster string) *ObservedStore {
	if o == nil || o.Cluster == cluster {
		return o
	}
	for _, c := range o.Others {
		if c.Cluster == cluster {
			return c
		}
	}
	return o
}

// HeldData reports whether the store may hold data a person would miss:
// it was ever Ready, a workload holding data was ever Ready, or a volume
// is bound. Such a store is never uninstalled except by its removal from
// stores.yaml.
func (o *ObservedStore) HeldData() bool {
	return o.ReadyRevision > 0 || !o.DataSince.IsZero() || o.BoundVolumes > 0
}

// AllReady reports whether the store has workloads and every one is
// Ready.
func (o *ObservedStore) AllReady() bool {
	if len(o.Workloads) == 0 {
		return false
	}
	for _, w := range o.Workloads {
		if !w.Ready {
			return false
		}
	}
	return true
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
	// Instance is the storeops instance that made the record (its
	// LabelInstance), "" for a release made by anything else.
	Instance string
	Updated  time.Time
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
