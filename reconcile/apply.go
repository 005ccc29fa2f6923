package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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
// Each wraps ErrTerminal, which stalls the store until its desired or
// observed state changes instead of retrying it with backoff.
var (
	// ErrTerminal marks an error that retrying cannot fix.
	ErrTerminal = errors.New("a person must act")
	// ErrNotManaged: an object storeops would create exists and was not
	// created by this instance; storeops never adopts or touches it.
	ErrNotManaged = fmt.Errorf("exists and was not created by this storeops instance (%w)", ErrTerminal)
	// ErrInvalidValues: the chart refused the store's values.
	ErrInvalidValues = fmt.Errorf("the chart refuses the store's values (%w)", ErrTerminal)
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
	// Instance signs the namespaces this applier creates and labels
	// everything it makes; set it before the first Apply.
	Instance Instance
	// KeyClient reaches the cluster of the instance key Secret, on which
	// the creation intents of store namespaces are recorded, when that is
	// not the applier's own (a registered target cluster's); nil: the
	// applier's client.
	KeyClient kubernetes.Interface
	// Timeout bounds each Helm operation, hooks included.
	Timeout time.Duration
	// MaxHistory is how many release revisions Helm keeps.
	MaxHistory int
	// StoreRole, when set, is bound in every store namespace (see
	// StoreRole); nil when storeops' own RBAC covers store namespaces.
	StoreRole *StoreRole
	// OnBound, if set, is called with a store namespace once the store
	// role is bound there (Observer.Rewatch: the observer lists its
	// Secrets at once).
	OnBound func(namespace string)
}

var _ Applier = (*ClusterApplier)(nil)

// NewClusterApplier returns an Applier for the cluster of cfg.
func NewClusterApplier(cfg *rest.Config, client kubernetes.Interface, charts ChartSource, log *slog.Logger) (*ClusterApplier, error) {
	h, err := newHelmConfigs(cfg, log)
	if err != nil {
		return nil, err
	}
	return &ClusterApplier{client: client, helm: h, charts: charts, log: log, Timeout: 5 * time.Minute, MaxHistory: 10,
		Instance: Instance{Name: DefaultInstance}}, nil
}

// Apply performs a. Every action is idempotent: repeating it after a crash
// finishes what was half done.
func (c *ClusterApplier) Apply(ctx context.Context, a Action, gitRevision string) error {
	if o := a.Observed; o != nil && o.Namespace != nil && o.Namespace.DeletionTimestamp == nil &&
		!c.Instance.Sealed(o.Namespace) && c.Instance.Intended(o.Namespace) {
		// Created by a run that stopped before sealing it (see intent.go):
		// sealed first if its intent is recorded, refused otherwise.
		sealed, err := c.sealIntended(ctx, a.Store, o.Namespace, nil)
		if err != nil {
			return err
		}
		copied := *o
		copied.Namespace = sealed
		a.Observed = &copied
	}
	if err := c.bindObserved(ctx, a); err != nil {
		return err
	}
	if o := a.Observed; o != nil && o.Unsynced && a.Kind != ActDelete && a.Kind != ActMark && a.Kind != ActBlock {
		// Its credentials and release are unknown: all an action that
		// depends on them may do is bind the store role, so that they can
		// be read. (Marks touch only the namespace; a deletion uninstalls
		// whatever release exists.)
		if a.Kind != ActRepair {
			return fmt.Errorf("%s %s: the Secrets of its namespace are not observed yet", a.Kind, a.Store)
		}
		if err := c.owned(o); err != nil {
			return err
		}
		if c.StoreRole == nil || c.StoreRole.ClusterRole == "" {
			return fmt.Errorf("storeops may not read the Secrets of namespace %s and has no store role to bind there (--store-role); "+
				"grant it get, list and watch on Secrets there (%w)", o.Namespace.Name, ErrTerminal)
		}
		return c.bindStoreRole(ctx, o.Namespace.Name)
	}
	switch a.Kind {
	case ActInstall, ActRepair, ActUpgrade:
		fresh, err := c.ensureIsolation(ctx, a.Desired, a.Observed)
		if err != nil {
			return err
		}
		if a.Kind == ActRepair {
			return nil
		}
		if a.Kind == ActInstall && fresh {
			return c.installFresh(ctx, a.Desired, gitRevision)
		}
		if a.Kind == ActInstall && (a.Observed == nil || a.Observed.Release == nil) {
			return c.install(ctx, a.Desired, gitRevision)
		}
		return c.upgrade(ctx, a.Desired, gitRevision)
	case ActReinstall:
		if a.Observed == nil || a.Observed.HeldData() {
			// Plan never asks for this; the check keeps a store's data
			// safe from any caller that would.
			return fmt.Errorf("refusing to reinstall %s: it holds data (%w)", a.Store, ErrTerminal)
		}
		if err := c.owned(a.Observed); err != nil {
			return err
		}
		if err := c.uninstall(ctx, a.Store, a.Desired.Namespace.Name); err != nil {
			return err
		}
		if _, err := c.ensureIsolation(ctx, a.Desired, a.Observed); err != nil {
			return err
		}
		return c.install(ctx, a.Desired, gitRevision)
	case ActRollback:
		if err := c.owned(a.Observed); err != nil {
			return err
		}
		return c.rollback(ctx, a.Desired.Namespace.Name, a.Store)
	case ActUnlock:
		if err := c.owned(a.Observed); err != nil {
			return err
		}
		return c.unlock(ctx, a.Observed.Namespace.Name, a.Store)
	case ActDelete:
		return c.delete(ctx, a.Observed)
	case ActMark:
		return c.mark(ctx, a.Observed, a.Marks, a.LabelMarks)
	case ActBlock:
		return nil // changes nothing by definition
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

// ensureIsolation creates or puts back the namespace, quota, limit range,
// network policy and credentials Secret, touching only what differs. It
// reports whether it created the namespace itself, just now: a fresh
// namespace holds nothing of the chart (see installFresh).
func (c *ClusterApplier) ensureIsolation(ctx context.Context, d *render.Desired, o *ObservedStore) (fresh bool, err error) {
	if o == nil {
		o = &ObservedStore{}
	} else {
		copied := *o // this action's view; the next observation sees the result
		o = &copied
	}
	ns := d.Namespace.Name
	var clearIntent func()
	if o.Namespace == nil {
		made, err := c.createNamespace(ctx, d)
		if err != nil {
			return false, err
		}
		o.Namespace, fresh, clearIntent = made.ns, made.fresh, made.clearIntent
	} else if err := c.owned(o); err != nil {
		return false, err
	} else if labelsDiffer(o.Namespace.Labels, d.Namespace.Labels) {
		// Through mark: the cached namespace is often older than the live
		// one (readiness marks, status labels), and mark re-reads it on a
		// conflict instead of failing the action.
		if err := c.mark(ctx, o, nil, d.Namespace.Labels); err != nil {
			return false, fmt.Errorf("update namespace %s labels: %w", ns, err)
		}
	}
	if err := c.bindStoreRole(ctx, ns); err != nil {
		return false, err
	}
	if !o.Credentials && (o.Release != nil || o.Volumes > 0) {
		return false, fmt.Errorf("credentials Secret %s/%s is gone while the store's data exists; restore it (%w)", ns, render.CredentialsSecret, ErrTerminal)
	}

	// The writes below depend on the namespace only, not on each other:
	// made at once, a new store waits for one round trip, not five.
	var writes []func() error
	if clearIntent != nil {
		writes = append(writes, func() error { clearIntent(); return nil })
	}
	if IsolationDiff(d, o) != "" {
		quotas := c.client.CoreV1().ResourceQuotas(ns)
		limits := c.client.CoreV1().LimitRanges(ns)
		policies := c.client.NetworkingV1().NetworkPolicies(ns)
		writes = append(writes, func() error {
			return named("resource quota", put(ctx, o.Quota == nil, d.Quota, o.Quota, quotas.Create, quotas.Update,
				func(live, want *corev1.ResourceQuota) { live.Spec = want.Spec }))
		}, func() error {
			return named("limit range", put(ctx, o.LimitRange == nil, d.LimitRange, o.LimitRange, limits.Create, limits.Update,
				func(live, want *corev1.LimitRange) { live.Spec = want.Spec }))
		}, func() error {
			return named("network policy", put(ctx, o.NetworkPolicy == nil, d.NetworkPolicy, o.NetworkPolicy, policies.Create, policies.Update,
				func(live, want *networkingv1.NetworkPolicy) { live.Spec = want.Spec }))
		})
		if !o.Credentials {
			writes = append(writes, func() error { return c.createCredentials(ctx, d) })
		}
	}
	return fresh, all(writes...)
}

// named prefixes err, if any, with what failed.
func named(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// all runs fns at once and returns the first of their errors (in the
// order of fns) once every one has returned.
func all(fns ...func() error) error {
	if len(fns) == 1 {
		return fns[0]()
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
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
// owned refuses to act on a namespace this instance did not create.
func (c *ClusterApplier) owned(o *ObservedStore) error {
	if o == nil || o.Namespace == nil || !c.Instance.Sealed(o.Namespace) {
		name := "?"
		if o != nil && o.Namespace != nil {
			name = o.Namespace.Name
		}
		return fmt.Errorf("namespace %s %w", name, ErrNotManaged)
	}
	return nil
}

// createNamespace creates the store's namespace and seals it with this
// instance's proof of creation. A namespace that exists already is used
// only if this instance created it. The intent to create it is recorded
// first (see intent.go), so that a run stopped before the seal leaves a
// namespace the next run can still prove its own.
func (c *ClusterApplier) createNamespace(ctx context.Context, d *render.Desired) (madeNamespace, error) {
	namespaces := c.client.CoreV1().Namespaces()
	name, store := d.Namespace.Name, d.Store.Name
	want, recorded := d.Namespace, ""
	if c.recordsIntents() {
		nonce, err := newNonce()
		if err != nil {
			return madeNamespace{}, err
		}
		if recorded, err = c.recordIntent(ctx, store, nonce); err != nil {
			return madeNamespace{}, err
		}
		want = d.Namespace.DeepCopy()
		if want.Annotations == nil {
			want.Annotations = map[string]string{}
		}
		want.Annotations[AnnotationIntent] = c.Instance.intent(name, nonce, time.Now())
	}
	var clearIntent func()
	if recorded != "" {
		clearIntent = func() { c.clearIntent(ctx, store, recorded) }
	}
	live, err := namespaces.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		live, err = namespaces.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return madeNamespace{}, fmt.Errorf("namespace %s: %w", name, err)
		}
		if live.DeletionTimestamp != nil {
			return madeNamespace{}, fmt.Errorf("namespace %s is still being deleted", name)
		}
		switch {
		case c.Instance.Sealed(live):
			return madeNamespace{ns: live, clearIntent: clearIntent}, nil
		case c.Instance.Intended(live) && recorded != "":
			// Made by an earlier run that did not seal it, and not in
			// the cache yet: its nonce is the one recorded before ours.
			sealed, err := c.sealIntended(ctx, store, live, strings.Fields(recorded))
			return madeNamespace{ns: sealed}, err
		}
		return madeNamespace{}, fmt.Errorf("namespace %s %w", name, ErrNotManaged)
	}
	if err != nil {
		return madeNamespace{}, fmt.Errorf("create namespace %s: %w", name, err)
	}
	// The proof needs the UID, known only now. Should storeops stop before
	// this update, the next run seals the namespace from the recorded
	// intent; without it, the namespace would stay unproven: blocked,
	// never adopted.
	if live, err = c.sealCreated(ctx, live); err != nil {
		return madeNamespace{}, err
	}
	return madeNamespace{ns: live, fresh: true, clearIntent: clearIntent}, nil
}

// madeNamespace is a store namespace createNamespace made or found.
type madeNamespace struct {
	ns *corev1.Namespace
	// fresh: created by this call, so it holds only what storeops puts
	// into it next.
	fresh bool
	// clearIntent removes the creation intent recorded for it, if one is
	// left to remove (nil otherwise). Its failure changes nothing that
	// matters (see ClusterApplier.clearIntent).
	clearIntent func()
}

// sealCreated seals a namespace this action just created. Another writer
// of this instance may have updated it meanwhile (readiness marks and
// status labels are written as soon as the informers see the namespace):
// on a conflict it reads it again and seals it while it is the same
// namespace.
func (c *ClusterApplier) sealCreated(ctx context.Context, created *corev1.Namespace) (*corev1.Namespace, error) {
	ns := created
	for attempt := 0; ; attempt++ {
		sealed, err := c.seal(ctx, ns)
		if err == nil || !apierrors.IsConflict(err) || attempt == 4 {
			return sealed, err
		}
		live, getErr := c.client.CoreV1().Namespaces().Get(ctx, created.Name, metav1.GetOptions{})
		switch {
		case getErr != nil:
			return nil, fmt.Errorf("namespace %s: %w", created.Name, getErr)
		case live.UID != created.UID || live.DeletionTimestamp != nil:
			return nil, fmt.Errorf("seal namespace %s: replaced or being deleted meanwhile", created.Name)
		case c.Instance.Sealed(live):
			return live, nil
		}
		ns = live
	}
}

// mark adds readiness annotations (see ReadinessMarks) and sets status
// labels (see StatusLabels) on a store's namespace. It updates the
// namespace it observed, guarded by its resourceVersion; on a conflict it
// reads the namespace again and retries while it is still the same one
// (same UID) and this instance's. (An update, not a patch: storeops' RBAC
// grants update on namespaces and no patch.)
func (c *ClusterApplier) mark(ctx context.Context, o *ObservedStore, marks, labels map[string]string) error {
	if err := c.owned(o); err != nil {
		return err
	}
	namespaces := c.client.CoreV1().Namespaces()
	live := o.Namespace.DeepCopy()
	for attempt := 0; ; attempt++ {
		if live.Annotations == nil {
			live.Annotations = map[string]string{}
		}
		if live.Labels == nil {
			live.Labels = map[string]string{}
		}
		for k, v := range marks {
			live.Annotations[k] = v
		}
		for k, v := range labels {
			if v == "" {
				delete(live.Labels, k)
			} else {
				live.Labels[k] = v
			}
		}
		_, err := namespaces.Update(ctx, live, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 2 {
			return fmt.Errorf("mark namespace %s: %w", o.Namespace.Name, err)
		}
		if live, err = namespaces.Get(ctx, o.Namespace.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("mark namespace %s: %w", o.Namespace.Name, err)
		}
		if live.UID != o.Namespace.UID || live.DeletionTimestamp != nil || !c.Instance.Sealed(live) {
			return fmt.Errorf("mark namespace %s: replaced or being deleted meanwhile", o.Namespace.Name)
		}
	}
}

func (c *ClusterApplier) createCredentials(ctx context.Context, d *render.Desired) error {
	data, err := c.charts.NewCredentials(d.Store.Type)
	if err != nil {
		return fmt.Errorf("generate credentials: %w", err)
	}
	labels := render.StoreLabels(d.Store)
	labels[LabelInstance] = c.Instance.Name
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: render.CredentialsSecret, Namespace: d.Namespace.Name, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	_, err = c.client.CoreV1().Secrets(d.Namespace.Name).Create(ctx, sec, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create credentials secret: %w", err)
	}
	return nil
}

// releaseLabels are the labels of the Helm release records: the instance
// (the observer selects on it) and the Git revision.
func (c *ClusterApplier) releaseLabels(gitRevision string) map[string]string {
	labels := map[string]string{LabelInstance: c.Instance.Name}
	if gitRevision != "" && len(gitRevision) <= 63 {
		labels[LabelGitRevision] = gitRevision
	}
	return labels
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
	in.Labels = c.releaseLabels(gitRevision)
	in.Description = "storeops install"
	ctx, cancel := helmBound(ctx, c.Timeout)
	defer cancel()
	if _, err := in.RunWithContext(ctx, ch, d.Release.Values); err != nil {
		return fmt.Errorf("helm install %s: %w", d.Release.Name, helmError(err))
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
	up.Labels = c.releaseLabels(gitRevision)
	up.Description = "storeops upgrade"
	ctx, cancel := helmBound(ctx, c.Timeout)
	defer cancel()
	if _, err := up.RunWithContext(ctx, d.Release.Name, ch, d.Release.Values); err != nil {
		return fmt.Errorf("helm upgrade %s: %w", d.Release.Name, helmError(err))
	}
	return nil
}

// helmError marks the errors of Helm that retrying cannot fix.
func helmError(err error) error {
	if strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
		return fmt.Errorf("%w: %w", ErrInvalidValues, err)
	}
	return err
}

func (c *ClusterApplier) rollback(ctx context.Context, namespace, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := c.helm.For(namespace)
	if err != nil {
		return err
	}
	if err := c.deleteSetupJobs(ctx, namespace); err != nil {
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

// deleteSetupJobs deletes the store's setup Jobs before a rollback. A Job's
// pod template is immutable and the controller adds to it, so Helm cannot
// patch a Job the target revision shares with the cluster when the failed
// revision's record does not list it (an upgrade interrupted by a crash):
// the rollback would fail on "field is immutable" at every retry. The
// setup is idempotent; the rollback creates its Job again and it reruns.
func (c *ClusterApplier) deleteSetupJobs(ctx context.Context, namespace string) error {
	jobs := c.client.BatchV1().Jobs(namespace)
	list, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=setup"})
	if err != nil {
		return fmt.Errorf("list setup Jobs of %s: %w", namespace, err)
	}
	background := metav1.DeletePropagationBackground
	for _, j := range list.Items {
		err := jobs.Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &j.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete setup Job %s/%s before the rollback: %w", namespace, j.Name, err)
		}
	}
	return nil
}

func (c *ClusterApplier) uninstall(ctx context.Context, name, namespace string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
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
func (c *ClusterApplier) unlock(ctx context.Context, namespace, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
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
	if err := c.owned(o); err != nil {
		return err
	}
	ns := o.Namespace
	if o.Release != nil || o.Unsynced {
		// Unsynced: a release may exist; uninstall ignores a missing one.
		if err := c.uninstall(ctx, o.Name, ns.Name); err != nil {
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
