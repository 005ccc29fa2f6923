package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
)

// installFresh installs the release of a store whose namespace this very
// action created: writes the same release record and objects as Helm's
// install, without the reads Helm's install makes to learn what the
// namespace already holds. There is nothing to learn: storeops created
// the namespace a moment ago and has put into it only its isolation
// objects and the credentials Secret, none of which the charts render.
// Helm's install would ask whether the release name is free (a list of
// the namespace's release records), whether the cluster answers (GET
// /version), the cluster's version and API groups (after emptying the
// shared discovery cache) and whether each of the chart's objects exists
// (one GET each, one after the other): 16 of the 44 requests of a new
// store, on its worker's path.
//
// Should another writer create an object of the chart in the namespace
// meanwhile, its create fails (AlreadyExists): the release is recorded
// failed, as Helm records a failed install, and the object is neither
// changed nor adopted. The next attempt sees an existing namespace and
// goes through Helm's own install or upgrade.
//
// A chart with hooks is installed by Helm's install: hooks are Helm's to
// run.
func (c *ClusterApplier) installFresh(ctx context.Context, d *render.Desired, gitRevision string) error {
	ch, cfg, err := c.chartAndConfig(d)
	if err != nil {
		return err
	}
	caps, err := c.helm.capabilities()
	if err != nil {
		return fmt.Errorf("helm install %s: %w", d.Release.Name, err)
	}
	rel, err := renderClientOnly(ctx, ch, d, caps.KubeVersion, caps.APIVersions, c.releaseLabels(gitRevision))
	if err != nil {
		return fmt.Errorf("helm install %s: %w", d.Release.Name, helmError(err))
	}
	if len(rel.Hooks) > 0 {
		return c.install(ctx, d, gitRevision)
	}
	resources, err := cfg.KubeClient.Build(bytes.NewBufferString(rel.Manifest), true)
	if err != nil {
		return fmt.Errorf("helm install %s: unable to build kubernetes objects from release manifest: %w", d.Release.Name, err)
	}
	if err := resources.Visit(ownedBy(rel.Name, rel.Namespace)); err != nil {
		return fmt.Errorf("helm install %s: %w", d.Release.Name, err)
	}

	rel.SetStatus(release.StatusPendingInstall, "Initial install underway")
	if err := cfg.Releases.Create(rel); err != nil {
		return fmt.Errorf("helm install %s: %w", d.Release.Name, err)
	}
	ctx, cancel := helmBound(ctx, c.Timeout)
	defer cancel()
	created := make(chan error, 1)
	go func() {
		_, err := cfg.KubeClient.Create(resources)
		created <- err
	}()
	select {
	case err = <-created:
	case <-ctx.Done():
		err = ctx.Err() // a request still in flight finishes or fails on its own
	}
	if err != nil {
		rel.SetStatus(release.StatusFailed, fmt.Sprintf("Release %q failed: %s", rel.Name, err))
		if uerr := cfg.Releases.Update(rel); uerr != nil {
			c.log.Warn("cannot record the failed install", "release", rel.Name, "namespace", rel.Namespace, "error", uerr)
		}
		return fmt.Errorf("helm install %s: %w", d.Release.Name, err)
	}
	rel.SetStatus(release.StatusDeployed, "storeops install")
	if err := cfg.Releases.Update(rel); err != nil {
		// As Helm's install: the objects exist, the record still says
		// pending-install; the plan takes it as an interrupted install.
		return fmt.Errorf("helm install %s: record the release: %w", d.Release.Name, err)
	}
	return nil
}

// Helm's marks of an object of a release: what its upgrade and uninstall
// check before they touch the object.
const (
	helmManagedByLabel      = "app.kubernetes.io/managed-by"
	helmReleaseNameAnnot    = "meta.helm.sh/release-name"
	helmReleaseNamespaceAnn = "meta.helm.sh/release-namespace"
)

// ownedBy marks each object as Helm's install marks the objects of a
// release.
func ownedBy(name, namespace string) resource.VisitorFunc {
	return func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		m, err := meta.Accessor(info.Object)
		if err != nil {
			return err
		}
		labels := m.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[helmManagedByLabel] = "Helm"
		m.SetLabels(labels)
		annotations := m.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[helmReleaseNameAnnot] = name
		annotations[helmReleaseNamespaceAnn] = namespace
		m.SetAnnotations(annotations)
		return nil
	}
}

// capabilitiesTTL is how long the cluster's version and API groups are
// taken as known before they are asked again.
const capabilitiesTTL = 10 * time.Minute

// sharedCaps is the cluster's version and API groups as the charts see
// them (.Capabilities), shared by every namespace's Helm configuration.
type sharedCaps struct {
	mu   sync.Mutex
	caps *chartutil.Capabilities
	at   time.Time
}

// capabilities returns the cluster's capabilities, asked at most once per
// capabilitiesTTL. Without it each new namespace's Helm configuration asks
// for them once, emptying the shared discovery cache first, so that the
// next manifest built reads the API server's resource lists again.
func (h *helmConfigs) capabilities() (*chartutil.Capabilities, error) {
	h.caps.mu.Lock()
	defer h.caps.mu.Unlock()
	if h.caps.caps != nil && time.Since(h.caps.at) < capabilitiesTTL {
		return h.caps.caps, nil
	}
	version, err := h.disc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	if h.caps.caps != nil {
		h.disc.Invalidate() // a new API group may have come meanwhile
	}
	versions, err := action.GetVersionSet(h.disc)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) { // as Helm: the groups that answered
		return nil, fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
	}
	h.caps.caps = &chartutil.Capabilities{
		APIVersions: versions,
		KubeVersion: chartutil.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}
	h.caps.at = time.Now()
	return h.caps.caps, nil
}

// Warm asks ahead of the first action what every install keeps: the
// cluster's capabilities, its resource lists and the validator of the
// charts' API groups (their OpenAPI documents). Otherwise the first stores
// acted on after a start wait for them, one worker after another. What
// fails is left for the installs to meet.
func (c *ClusterApplier) Warm() {
	if _, err := c.helm.capabilities(); err != nil {
		return
	}
	cfg, err := render.Parse("stores.yaml", []byte("stores:\n  - {name: warm-a, type: woocommerce}\n  - {name: warm-b, type: medusa}\n"), render.Limits{MaxStores: 2})
	if err != nil {
		return
	}
	const ns = "storeops-warm" // only built, never written
	defer c.helm.Forget(ns)
	hc, err := c.helm.For(ns)
	if err != nil {
		return
	}
	for _, d := range render.Render(cfg) {
		rel, err := RenderRelease(c.charts, &d)
		if err != nil {
			return
		}
		if _, err := hc.KubeClient.Build(bytes.NewBufferString(rel.Manifest), true); err != nil {
			c.log.Debug("warming up", "error", err)
			return
		}
	}
}
