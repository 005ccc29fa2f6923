package reconcile

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/validation"
)

// helmConfigs hands out one Helm action.Configuration per namespace, all
// sharing one discovery cache and REST mapper, so that a sync over many
// stores asks the API server for its resource list once.
type helmConfigs struct {
	rest   *rest.Config
	disc   discovery.CachedDiscoveryInterface
	mapper meta.ResettableRESTMapper
	log    *slog.Logger

	mu      sync.Mutex
	configs map[string]*action.Configuration
	recent  []string // the namespaces of configs, least recently used first

	vmu        sync.Mutex
	validators map[string]*sharedSchema // by field validation directive

	caps sharedCaps
}

func newHelmConfigs(cfg *rest.Config, log *slog.Logger) (*helmConfigs, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	disc := memory.NewMemCacheClient(dc)
	return &helmConfigs{
		rest:    cfg,
		disc:    disc,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(disc),
		log:     log,
		configs: map[string]*action.Configuration{},

		validators: map[string]*sharedSchema{},
	}, nil
}

// keptConfigs bounds the Helm configurations kept for the namespaces acted
// on last. Each holds its own clients (about 60 KiB): kept for every store
// they made up a fifth of the heap at 1000 stores. Building one again
// costs no request: the discovery cache, REST mapper and validator are
// shared.
const keptConfigs = 64

// For returns the Helm configuration of a namespace.
func (h *helmConfigs) For(namespace string) (*action.Configuration, error) {
	caps, _ := h.capabilities() // nil: Helm asks for them itself
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.configs[namespace]; ok {
		h.touchLocked(namespace)
		c.Capabilities = caps
		return c, nil
	}
	c := new(action.Configuration)
	getter := &nsGetter{h: h, namespace: namespace}
	logf := func(format string, v ...any) { h.log.Debug(fmt.Sprintf(format, v...), "namespace", namespace) }
	if err := c.Init(getter, namespace, "secret", logf); err != nil {
		return nil, fmt.Errorf("helm configuration for %s: %w", namespace, err)
	}
	c.Capabilities = caps
	if kc, ok := c.KubeClient.(*kube.Client); ok {
		kc.Namespace = namespace
		kc.Factory = sharedValidatorFactory{Factory: kc.Factory, h: h}
	}
	h.configs[namespace] = c
	h.touchLocked(namespace)
	for len(h.recent) > keptConfigs {
		delete(h.configs, h.recent[0])
		h.recent = h.recent[1:]
	}
	return c, nil
}

// touchLocked makes namespace the most recently used. Called with h.mu
// held.
func (h *helmConfigs) touchLocked(namespace string) {
	if i := slices.Index(h.recent, namespace); i >= 0 {
		h.recent = slices.Delete(h.recent, i, i+1)
	}
	h.recent = append(h.recent, namespace)
}

// Forget drops the configuration of a deleted namespace.
func (h *helmConfigs) Forget(namespace string) {
	h.mu.Lock()
	delete(h.configs, namespace)
	if i := slices.Index(h.recent, namespace); i >= 0 {
		h.recent = slices.Delete(h.recent, i, i+1)
	}
	h.mu.Unlock()
}

// nsGetter is a genericclioptions.RESTClientGetter for one namespace over
// the shared caches.
type nsGetter struct {
	h         *helmConfigs
	namespace string
}

func (g *nsGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.h.rest), nil }

func (g *nsGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.h.disc, nil
}

func (g *nsGetter) ToRESTMapper() (meta.RESTMapper, error) {
	return restmapper.NewShortcutExpander(g.h.mapper, g.h.disc, nil), nil
}

func (g *nsGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(),
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// sharedValidatorFactory is Helm's factory with one validator for every
// install and upgrade. Helm asks its factory for a new validator for each
// manifest it builds, and each new validator fetches and parses the API
// server's OpenAPI v3 document of every group-version in the manifest
// (megabytes of JSON) only to learn whether the server validates fields
// itself: most of the CPU time of an install. Shared, that is learned once
// per group-version.
type sharedValidatorFactory struct {
	kube.Factory
	h *helmConfigs
}

func (f sharedValidatorFactory) Validator(directive string) (validation.Schema, error) {
	return f.h.validator(f.Factory, directive)
}

func (h *helmConfigs) validator(f kube.Factory, directive string) (validation.Schema, error) {
	h.vmu.Lock()
	defer h.vmu.Unlock()
	if s, ok := h.validators[directive]; ok {
		return s, nil
	}
	v, err := f.Validator(directive)
	if err != nil {
		return nil, err
	}
	s := &sharedSchema{Schema: v, drop: func(s *sharedSchema) {
		h.vmu.Lock()
		if h.validators[directive] == s {
			delete(h.validators, directive)
		}
		h.vmu.Unlock()
	}}
	h.validators[directive] = s
	return s, nil
}

// sharedSchema is a validator shared by every Helm client. It keeps what
// it learnt of the server forever, a failure to learn it too: on any error
// it is dropped, and the next manifest gets a new one.
type sharedSchema struct {
	validation.Schema
	drop func(*sharedSchema)
}

func (s *sharedSchema) ValidateBytes(data []byte) error {
	err := s.Schema.ValidateBytes(data)
	if err != nil {
		s.drop(s)
	}
	return err
}
