package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Errors of Apply that a person must act on; retrying will not help.
var (
	// ErrNotManaged: an object storeops would create exists and does not
	// carry the storeops label; storeops never adopts or touches it.
	ErrNotManaged = errors.New("exists and is not managed by storeops")
)

// Applier performs one Action against the cluster.
type Applier interface {
	Apply(ctx context.Context, a Action, gitRevision string) error
}

// ClusterApplier applies actions with client-go and the Helm SDK
// in-process.
type ClusterApplier struct {
	client kubernetes.Interface
	helm   *helmConfigs
	charts ChartSource
	log    *slog.Logger
	// Timeout bounds each Helm operation, hooks included.
	Timeout time.Duration
	// MaxHistory is how many release revisions Helm keeps.
	MaxHistory int
}

var _ Applier = (*ClusterApplier)(nil)

// NewClusterApplier returns an Applier for the cluster of cfg.
func NewClusterApplier(cfg *rest.Config, client kubernetes.Interface, charts ChartSource, log *slog.Logger) (*ClusterApplier, error) {
	h, err := newHelmConfigs(cfg, log)
	if err != nil {
		return nil, err
	}
	return &ClusterApplier{client: client, helm: h, charts: charts, log: log, Timeout: 5 * time.Minute, MaxHistory: 10}, nil
}

// Apply performs a. Every action is idempotent: repeating it after a crash
// finishes what was half done.
func (c *ClusterApplier) Apply(ctx context.Context, a Action, gitRevision string) error {
	switch a.Kind {
	case ActInstall, ActRepair, ActUpgrade:
		if err := c.ensureIsolation(ctx, a.Desired, a.Observed); err != nil {
			return err
		}
		if a.Kind == ActRepair {
			return nil
		}
		if a.Kind == ActInstall && (a.Observed == nil || a.Observed.Release == nil) {
			return c.install(ctx, a.Desired, gitRevision)
		}
		return c.upgrade(ctx, a.Desired, gitRevision)
	case ActReinstall:
		if err := c.uninstall(a.Store, a.Desired.Namespace.Name); err != nil {
			return err
		}
		if err := c.ensureIsolation(ctx, a.Desired, a.Observed); err != nil {
			return err
		}
		return c.install(ctx, a.Desired, gitRevision)
	case ActRollback:
		return c.rollback(a.Desired.Namespace.Name, a.Store)
	case ActUnlock:
		return c.unlock(a.Observed.Namespace.Name, a.Store)
	case ActDelete:
		return c.delete(ctx, a.Observed)
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

// ensureIsolation creates or puts back the namespace, quota, limit range,
// network policy and credentials Secret, touching only what differs.
func (c *ClusterApplier) ensureIsolation(ctx context.Context, d *render.Desired, o *ObservedStore) error {
	if o == nil {
		o = &ObservedStore{}
	} else {
		copied := *o // this action's view; the next observation sees the result
		o = &copied
	}
	ns := d.Namespace.Name
	if o.Namespace == nil {
		_, err := c.client.CoreV1().Namespaces().Create(ctx, d.Namespace, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			live, gerr := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if gerr != nil {
				return fmt.Errorf("namespace %s: %w", ns, gerr)
			}
			if live.Labels[render.LabelManagedBy] != render.ManagedBy {
				return fmt.Errorf("namespace %s %w", ns, ErrNotManaged)
			}
			if live.DeletionTimestamp != nil {
				return fmt.Errorf("namespace %s is still being deleted", ns)
			}
			o.Namespace = live
		} else if err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		} else {
			o.Namespace = d.Namespace
		}
	} else if labelsDiffer(o.Namespace.Labels, d.Namespace.Labels) {
		live := o.Namespace.DeepCopy()
		for k, v := range d.Namespace.Labels {
			live.Labels[k] = v
		}
		if _, err := c.client.CoreV1().Namespaces().Update(ctx, live, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update namespace %s labels: %w", ns, err)
		}
	}

	diff := IsolationDiff(d, o)
	if diff == "" {
		return nil
	}
	quotas := c.client.CoreV1().ResourceQuotas(ns)
	if err := put(ctx, o.Quota == nil, d.Quota, o.Quota, quotas.Create, quotas.Update, func(live, want *corev1.ResourceQuota) {
		live.Spec = want.Spec
	}); err != nil {
		return fmt.Errorf("resource quota: %w", err)
	}
	limits := c.client.CoreV1().LimitRanges(ns)
	if err := put(ctx, o.LimitRange == nil, d.LimitRange, o.LimitRange, limits.Create, limits.Update, func(live, want *corev1.LimitRange) {
		live.Spec = want.Spec
	}); err != nil {
		return fmt.Errorf("limit range: %w", err)
	}
	policies := c.client.NetworkingV1().NetworkPolicies(ns)
	if err := put(ctx, o.NetworkPolicy == nil, d.NetworkPolicy, o.NetworkPolicy, policies.Create, policies.Update, func(live, want *networkingv1.NetworkPolicy) {
		live.Spec = want.Spec
	}); err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	if !o.Credentials {
		if err := c.createCredentials(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

type object[T any] interface {
	*T
	metav1.Object
	DeepCopy() *T
}

// put creates want when absent, or updates live's spec to want's when they
// differ. A create that finds the object already there leaves it (the next
// observation compares it); labels are always set to storeops'.
func put[T any, P object[T]](ctx context.Context, absent bool, want, live P,
	create func(context.Context, P, metav1.CreateOptions) (P, error),
	update func(context.Context, P, metav1.UpdateOptions) (P, error),
	setSpec func(live, want P)) error {
	if absent {
		_, err := create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	next := P(live.DeepCopy())
	setSpec(next, want)
	labels := next.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range want.GetLabels() {
		labels[k] = v
	}
	next.SetLabels(labels)
	_, err := update(ctx, next, metav1.UpdateOptions{})
	return err
}

func labelsDiffer(live, want map[string]string) bool {
	for k, v := range want {
		if live[k] != v {
			return true
		}
	}
	return false
}

// createCredentials makes the store's Secret once, with a random value for
// every key its chart needs. An existing Secret is never changed.
func (c *ClusterApplier) createCredentials(ctx context.Context, d *render.Desired) error {
	data, err := c.charts.NewCredentials(d.Store.Type)
	if err != nil {
		return fmt.Errorf("generate credentials: %w", err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: render.CredentialsSecret, Namespace: d.Namespace.Name, Labels: render.StoreLabels(d.Store)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	_, err = c.client.CoreV1().Secrets(d.Namespace.Name).Create(ctx, sec, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create credentials secret: %w", err)
	}
	return nil
}

func releaseLabels(gitRevision string) map[string]string {
	if gitRevision == "" || len(gitRevision) > 63 {
		return nil
	}
	return map[string]string{LabelGitRevision: gitRevision}
}

// chartAndConfig loads the store's chart and its namespace's Helm
// configuration.
func (c *ClusterApplier) chartAndConfig(d *render.Desired) (*chart.Chart, *action.Configuration, error) {
	ch, err := c.charts.Chart(d.Store.Type)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := c.helm.For(d.Namespace.Name)
	return ch, cfg, err
}

func (c *ClusterApplier) install(ctx context.Context, d *render.Desired, gitRevision string) error {
	ch, cfg, err := c.chartAndConfig(d)
	if err != nil {
		return err
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = d.Release.Name, d.Namespace.Name
	in.Timeout = c.Timeout
	in.Labels = releaseLabels(gitRevision)
	in.Description = "storeops install"
	if _, err := in.RunWithContext(ctx, ch, d.Release.Values); err != nil {
		return fmt.Errorf("helm install %s: %w", d.Release.Name, err)
	}
	return nil
}

func (c *ClusterApplier) upgrade(ctx context.Context, d *render.Desired, gitRevision string) error {
	ch, cfg, err := c.chartAndConfig(d)
	if err != nil {
		return err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = d.Namespace.Name
	up.Timeout = c.Timeout
	up.MaxHistory = c.MaxHistory
	up.ResetValues = true
	up.Labels = releaseLabels(gitRevision)
	up.Description = "storeops upgrade"
	if _, err := up.RunWithContext(ctx, d.Release.Name, ch, d.Release.Values); err != nil {
		return fmt.Errorf("helm upgrade %s: %w", d.Release.Name, err)
	}
	return nil
}

func (c *ClusterApplier) rollback(namespace, name string) error {
	cfg, err := c.helm.For(namespace)
	if err != nil {
		return err
	}
	rb := action.NewRollback(cfg)
	rb.Timeout = c.Timeout
	rb.MaxHistory = c.MaxHistory
	if err := rb.Run(name); err != nil {
		return fmt.Errorf("helm rollback %s: %w", name, err)
	}
	return nil
}

func (c *ClusterApplier) uninstall(name, namespace string) error {
	cfg, err := c.helm.For(namespace)
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Timeout = c.Timeout
	un.IgnoreNotFound = true
	if _, err := un.Run(name); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("helm uninstall %s: %w", name, err)
	}
	return nil
}

// unlock marks a release left pending by a crash as failed, so that the
// next plan remediates it (rollback or reinstall) like any failure.
func (c *ClusterApplier) unlock(namespace, name string) error {
	cfg, err := c.helm.For(namespace)
	if err != nil {
		return err
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return fmt.Errorf("read release %s: %w", name, err)
	}
	if !rel.Info.Status.IsPending() {
		return nil // someone finished it meanwhile
	}
	rel.SetStatus(release.StatusFailed, fmt.Sprintf("storeops: %s interrupted (left %s)", name, rel.Info.Status))
	if err := cfg.Releases.Update(rel); err != nil {
		return fmt.Errorf("unlock release %s: %w", name, err)
	}
	return nil
}

// delete uninstalls the release, then deletes the namespace, which takes
// whatever is left with it. Only a namespace carrying the storeops label
// is deleted.
func (c *ClusterApplier) delete(ctx context.Context, o *ObservedStore) error {
	ns := o.Namespace
	if ns.Labels[render.LabelManagedBy] != render.ManagedBy {
		return fmt.Errorf("namespace %s %w", ns.Name, ErrNotManaged)
	}
	if o.Release != nil {
		if err := c.uninstall(o.Name, ns.Name); err != nil {
			return err
		}
	}
	err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &ns.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", ns.Name, err)
	}
	c.helm.Forget(ns.Name)
	return nil
}
