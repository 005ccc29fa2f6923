package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels storeops puts on everything it creates. It only ever changes or
// deletes objects that carry LabelManagedBy=ManagedBy.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "storeops"
	LabelStore     = "storeops.dev/store"
	LabelType      = "storeops.dev/type"
	LabelPlan      = "storeops.dev/plan"
)

// CredentialsSecret is the name of the Secret, in each store's namespace,
// that holds the store's generated credentials. storeops creates it once;
// the charts read it (their existingSecret value).
const CredentialsSecret = "store-credentials"

// Pod Security Standards levels of store namespaces: enforce baseline (the
// official WordPress and MySQL images need it), warn and audit at
// restricted.
const (
	PodSecurityEnforce = "baseline"
	PodSecurityWarn    = "restricted"
)

// Release is the Helm release a store needs.
type Release struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Chart is the name of the embedded chart (the store type).
	Chart string `json:"chart"`
	// Values are the chart values; they hold no secrets.
	Values map[string]any `json:"values"`
	// Checksum is a stable SHA-256 of Values; equal values, equal checksum.
	Checksum string `json:"checksum"`
}

// Desired is everything one store should have in the cluster.
type Desired struct {
	Store         Store                       `json:"store"`
	Namespace     *corev1.Namespace           `json:"namespace"`
	Quota         *corev1.ResourceQuota       `json:"quota"`
	LimitRange    *corev1.LimitRange          `json:"limitRange"`
	NetworkPolicy *networkingv1.NetworkPolicy `json:"networkPolicy"`
	Release       Release                     `json:"release"`
}

// Render returns the desired state of every store of cfg, in name order.
// Suspended stores are rendered too; acting on them is the reconciler's
// choice.
func Render(cfg *Config) []Desired {
	out := make([]Desired, 0, cfg.Len())
	for _, s := range cfg.stores {
		out = append(out, RenderStore(cfg.defaults, s))
	}
	return out
}

// StoreLabels are the labels of every object storeops creates for s.
func StoreLabels(s Store) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedBy,
		LabelStore:     s.Name,
		LabelType:      string(s.Type),
	}
}

// RenderStore returns the desired state of one validated store.
func RenderStore(df Defaults, s Store) Desired {
	ns := s.Namespace()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: StoreLabels(s)}
	}

	nsLabels := StoreLabels(s)
	nsLabels[LabelPlan] = string(s.Plan)
	nsLabels["pod-security.kubernetes.io/enforce"] = PodSecurityEnforce
	nsLabels["pod-security.kubernetes.io/enforce-version"] = "latest"
	nsLabels["pod-security.kubernetes.io/warn"] = PodSecurityWarn
	nsLabels["pod-security.kubernetes.io/audit"] = PodSecurityWarn

	quota := ResourceQuota(ns, s.Plan)
	quota.Labels = StoreLabels(s)
	limits := LimitRange(ns, s.Plan)
	limits.Labels = StoreLabels(s)

	values := Values(df, s)
	return Desired{
		Store: s,
		Namespace: &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels},
		},
		Quota:      quota,
		LimitRange: limits,
		NetworkPolicy: &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: meta(NetworkPolicyName),
			Spec: networkingv1.NetworkPolicySpec{
				// Every pod of the namespace; ingress only from the ingress
				// controller's namespace and from the namespace itself.
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{
					{From: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
							"kubernetes.io/metadata.name": df.IngressNamespace,
						}},
					}}},
					{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
				},
			},
		},
		Release: Release{
			Name:      s.Name,
			Namespace: ns,
			Chart:     string(s.Type),
			Values:    values,
			Checksum:  Checksum(values),
		},
	}
}

// Values are the chart values of a store: the charts' public contract.
func Values(df Defaults, s Store) map[string]any {
	return map[string]any{
		"store": map[string]any{
			"name":       s.Name,
			"title":      s.Options.Title,
			"domain":     s.Domain,
			"adminEmail": s.AdminEmail,
			"sampleData": s.Options.SampleData,
		},
		"existingSecret": CredentialsSecret,
		"ingress": map[string]any{
			"className":     df.IngressClass,
			"tlsSecretName": s.Options.TLSSecret,
		},
		"persistence": map[string]any{
			"storageClass": df.StorageClass,
		},
	}
}

// Checksum is a stable SHA-256 of chart values: JSON with sorted keys.
func Checksum(values map[string]any) string {
	b, err := json.Marshal(values)
	if err != nil {
		// Values built from stores.yaml are strings, bools and maps.
		panic("render: values not encodable: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
