package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/storeops/storeops/charts"
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
	// Fingerprint is Fingerprint(d) of the finished desired state, set
	// once by whoever finishes it (the reconciler, after labelling its
	// objects with its instance), so that desired states compare by a
	// string: equal fingerprints, equal desired states. Empty when not
	// set; whoever changes a Desired after setting it sets it again.
	Fingerprint string `json:"-"`
}

// Fingerprint returns a SHA-256 of the JSON encoding of the whole of d:
// every encoded field of Desired and of its Store, a field added later
// too (TestFingerprintCoversEveryField fails for a field the encoding
// leaves out), but for the store's line in its file. d.Fingerprint itself
// is not encoded. It returns "" when d
// cannot be encoded.
func Fingerprint(d *Desired) string {
	h := sha256.New()
	// Where the store stands in its file is for messages only: a store
	// added above it does not change it.
	c := *d
	c.Store.Line = 0
	if err := json.NewEncoder(h).Encode(&c); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Render returns the desired state of every store of cfg, in name order.
// Suspended stores are rendered too; acting on them is the reconciler's
// choice.
func Render(cfg *Config) []Desired {
	out := make([]Desired, 0, cfg.Len())
	for _, s := range cfg.stores {
		out = append(out, RenderStore(cfg.defaults, s.clone()))
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
		Quota:         quota,
		LimitRange:    limits,
		NetworkPolicy: NetworkPolicy(df, ns, StoreLabels(s)),
		Release: Release{
			Name:      s.Name,
			Namespace: ns,
			Chart:     string(s.Type),
			Values:    values,
			Checksum:  Checksum(values),
		},
	}
}

// Private ranges a store may not reach outside its own namespace: the
// cluster's pods, services and nodes (RFC 1918, shared address space,
// IPv6 unique local), link-local (the cloud metadata address
// 169.254.169.254 among them) and loopback.
var (
	DeniedEgressIPv4 = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8"}
	DeniedEgressIPv6 = []string{"fc00::/7", "fe80::/10", "::1/128"}
)

// NetworkPolicy is the policy of a store namespace. Every pod of it:
//   - receives traffic only from the ingress controller's namespace and from
//     the namespace itself;
//   - sends traffic only to the namespace itself, to DNS (port 53 in
//     kube-system), and to public addresses (plugin downloads, payment and
//     mail providers), never to the cluster's private ranges, the API
//     server's service or node addresses there, or 169.254.169.254.
func NetworkPolicy(df Defaults, namespace string, labels map[string]string) *networkingv1.NetworkPolicy {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	publicV4 := networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: DeniedEgressIPv4}
	publicV6 := networkingv1.IPBlock{CIDR: "::/0", Except: DeniedEgressIPv6}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: NetworkPolicyName, Namespace: namespace, Labels: labels},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
						"kubernetes.io/metadata.name": df.IngressNamespace,
					}},
				}}},
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
				{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
							"kubernetes.io/metadata.name": "kube-system",
						}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
				},
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &publicV4}, {IPBlock: &publicV6}}},
			},
		},
	}
}

// Values are the chart values of a store: the charts' public contract. A
// store of the large plan gets its chart's production values
// (values-prod.yaml: replicas, resources, volumes) under the store's own;
// the store's ingress and persistence settings always win. With a
// defaults.clusterIssuer, the Ingress asks cert-manager for the store's
// certificate.
func Values(df Defaults, s Store) map[string]any {
	store := map[string]any{
		"name":       s.Name,
		"title":      s.Options.Title,
		"domain":     s.Domain,
		"adminEmail": s.AdminEmail,
		"sampleData": s.Options.SampleData,
	}
	if s.Type == WooCommerce {
		methods := make([]any, len(s.Options.PaymentMethods))
		for i, m := range s.Options.PaymentMethods {
			methods[i] = m
		}
		store["paymentMethods"] = methods
		store["flatRateCost"] = s.Options.FlatRate
	}
	ingress := map[string]any{
		"className":     df.IngressClass,
		"tlsSecretName": s.Options.TLSSecret,
	}
	if df.ClusterIssuer != "" && s.Options.TLSSecret != "" {
		ingress["annotations"] = map[string]any{
			"cert-manager.io/cluster-issuer": df.ClusterIssuer,
		}
	}
	values := map[string]any{
		"store":          store,
		"existingSecret": CredentialsSecret,
		"ingress":        ingress,
		"persistence": map[string]any{
			"storageClass": df.StorageClass,
		},
	}
	if s.Plan == PlanLarge {
		prod, err := charts.ProductionValues(string(s.Type))
		if err != nil {
			// The embedded charts' values-prod.yaml; the tests read both.
			panic("render: " + err.Error())
		}
		values = chartutil.MergeTables(values, prod)
	}
	return values
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
