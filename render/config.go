package render

import (
	"slices"
	"sort"
)

// Type is the kind of store: which stack and chart runs it.
type Type string

// The store types storeops knows.
const (
	WooCommerce Type = "woocommerce"
	Medusa      Type = "medusa"
)

// Types lists the known store types in a stable order.
var Types = []Type{WooCommerce, Medusa}

// Default values applied after validation when stores.yaml leaves them out.
const (
	DefaultBaseDomain       = "stores.localhost"
	DefaultIngressClass     = "nginx"
	DefaultIngressNamespace = "ingress-nginx"
	DefaultPlan             = PlanSmall
	// DefaultMaxStores is the default of Limits.MaxStores.
	DefaultMaxStores = 100
	// DefaultMaxBytes is the default of Limits.MaxBytes (1 MiB).
	DefaultMaxBytes = 1 << 20
	// MaxTitleLength bounds options.title, in characters.
	MaxTitleLength = 100
)

// Defaults are the file-wide settings of stores.yaml, after defaulting.
type Defaults struct {
	// BaseDomain: a store without its own domain gets "<name>.<BaseDomain>".
	BaseDomain string `json:"baseDomain" yaml:"baseDomain"`
	// IngressClass is the ingressClassName of every store's Ingress.
	IngressClass string `json:"ingressClass" yaml:"ingressClass"`
	// IngressNamespace is where the ingress controller runs; the stores'
	// NetworkPolicies admit traffic from it.
	IngressNamespace string `json:"ingressNamespace" yaml:"ingressNamespace"`
	// Plan is the plan of a store that names none.
	Plan Plan `json:"plan" yaml:"plan"`
	// StorageClass of the stores' volumes; empty means the cluster default.
	StorageClass string `json:"storageClass,omitempty" yaml:"storageClass,omitempty"`
	// ClusterIssuer is a cert-manager ClusterIssuer. When set, every store
	// is served over https: its Ingress asks cert-manager for a certificate
	// in its TLS Secret (options.tlsSecret, default "<name>-tls").
	ClusterIssuer string `json:"clusterIssuer,omitempty" yaml:"clusterIssuer,omitempty"`
	// Cluster is the target cluster of a store that names none; empty is
	// LocalCluster.
	Cluster string `json:"cluster,omitempty" yaml:"cluster,omitempty"`
}

// Options are the few chart settings a store may choose. There is no
// free-form pass-through of Helm values.
type Options struct {
	// Title is the shop's display name; it defaults to the store name.
	Title string `json:"title" yaml:"title"`
	// SampleData imports the stack's sample products at installation.
	SampleData bool `json:"sampleData" yaml:"sampleData"`
	// TLSSecret names a kubernetes.io/tls Secret in the store's namespace
	// for its Ingress; empty means plain HTTP, unless the file has a
	// defaults.clusterIssuer (then it is "<name>-tls").
	TLSSecret string `json:"tlsSecret,omitempty" yaml:"tlsSecret,omitempty"`
	// PaymentMethods are the offline payment methods a WooCommerce store
	// offers at checkout (PaymentMethodNames; default cod). Empty for
	// other store types.
	PaymentMethods []string `json:"paymentMethods,omitempty" yaml:"paymentMethods,omitempty,flow"`
	// FlatRate is the flat shipping cost of a WooCommerce store everywhere,
	// a decimal such as "5.00" ("0" ships for free; default
	// DefaultFlatRate). Empty for other store types.
	FlatRate string `json:"flatRate,omitempty" yaml:"flatRate,omitempty"`
}

// Defaults of the WooCommerce options.
const DefaultFlatRate = "5.00"

// DefaultPaymentMethods are the payment methods of a WooCommerce store that
// names none.
func DefaultPaymentMethods() []string { return []string{"cod"} }

// PaymentMethodNames are the offline payment methods of WooCommerce:
// cash on delivery, bank transfer, cheque.
var PaymentMethodNames = []string{"cod", "bacs", "cheque"}

// Store is one declared store, after defaulting. Copies from a Config share
// nothing with it.
type Store struct {
	Name       string  `json:"name" yaml:"name"`
	Type       Type    `json:"type" yaml:"type"`
	Plan       Plan    `json:"plan" yaml:"plan"`
	Domain     string  `json:"domain" yaml:"domain"`
	AdminEmail string  `json:"adminEmail" yaml:"adminEmail"`
	Suspend    bool    `json:"suspend" yaml:"suspend"`
	Options    Options `json:"options" yaml:"options"`
	// Cluster is the target cluster the store lives on: the name of a
	// cluster registered with storeops, empty for LocalCluster (the
	// cluster storeops itself runs against).
	Cluster string `json:"cluster,omitempty" yaml:"cluster,omitempty"`
	// Line is where the store starts in its file (for messages).
	Line int `json:"line" yaml:"-"`
}

// Namespace is the namespace the store lives in.
func (s Store) Namespace() string { return NamespacePrefix + s.Name }

// LocalCluster names, in stores.yaml, the cluster storeops itself runs
// against (its kubeconfig or in-cluster credentials). A parsed Store holds
// it as the empty string.
const LocalCluster = "local"

// ClusterName is how messages name a store's cluster: LocalCluster for
// the empty string.
func ClusterName(c string) string {
	if c == "" {
		return LocalCluster
	}
	return c
}

// NamespacePrefix is put before a store's name to make its namespace.
const NamespacePrefix = "store-"

// Config is a parsed and validated stores.yaml. It is immutable: its methods
// return copies.
type Config struct {
	file     string
	defaults Defaults
	stores   []Store // sorted by name
}

// File is the name the config was parsed from.
func (c *Config) File() string { return c.file }

// Defaults returns the file-wide settings.
func (c *Config) Defaults() Defaults { return c.defaults }

// Stores returns the stores, sorted by name.
func (c *Config) Stores() []Store {
	out := make([]Store, len(c.stores))
	for i, s := range c.stores {
		out[i] = s.clone()
	}
	return out
}

// clone returns a copy of s that shares no memory with it.
func (s Store) clone() Store {
	s.Options.PaymentMethods = slices.Clone(s.Options.PaymentMethods)
	return s
}

// Len is the number of stores.
func (c *Config) Len() int { return len(c.stores) }

// Store returns the store with the given name.
func (c *Config) Store(name string) (Store, bool) {
	i := sort.Search(len(c.stores), func(i int) bool { return c.stores[i].Name >= name })
	if i < len(c.stores) && c.stores[i].Name == name {
		return c.stores[i].clone(), true
	}
	return Store{}, false
}

// Limits bound what Parse accepts.
type Limits struct {
	// MaxStores is the most stores a file may declare (0: DefaultMaxStores).
	MaxStores int
	// MaxBytes is the largest file accepted (0: DefaultMaxBytes).
	MaxBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxStores <= 0 {
		l.MaxStores = DefaultMaxStores
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}
