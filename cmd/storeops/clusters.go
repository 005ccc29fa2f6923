package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"github.com/storeops/storeops/web"
)

// Target clusters other than storeops' own are registered as Secrets in
// storeops' namespace (--leader-election-namespace), with --clusters: a
// Secret labelled LabelCluster=<name> holds a kubeconfig under the key
// "kubeconfig" and, optionally, the store role storeops binds to itself
// in each store namespace it creates there (keys "storeRole" and
// "storeRoleSubject", as --store-role and --store-role-subject).
const (
	LabelCluster       = "storeops.dev/cluster"
	clusterKubeconfig  = "kubeconfig"
	clusterStoreRole   = "storeRole"
	clusterRoleSubject = "storeRoleSubject"
)

// clusterWait bounds how long plan and sync --once wait for the registered
// clusters to be observed.
const clusterWait = 30 * time.Second

// registration is what a cluster Secret says.
type registration struct {
	name      string
	config    *rest.Config
	storeRole *reconcile.StoreRole
	sum       [32]byte // of the Secret's data: an unchanged Secret is not wired again
}

// parseRegistration reads a cluster Secret. The kubeconfig may carry its
// credentials and certificates inline only: no exec or auth-provider
// plugin (a command storeops would run) and no file (a file of storeops'
// own, such as its service account token), whoever wrote the Secret.
func parseRegistration(sec *corev1.Secret) (*registration, error) {
	name := sec.Labels[LabelCluster]
	where := fmt.Sprintf("Secret %s/%s", sec.Namespace, sec.Name)
	if msg := render.CheckCluster(name); msg != "" || name == render.LocalCluster {
		return nil, fmt.Errorf("%s: label %s: %q is not a cluster name (a DNS label other than %q)", where, LabelCluster, name, render.LocalCluster)
	}
	reg := &registration{name: name}
	keys := make([]string, 0, len(sec.Data))
	for k := range sec.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(sec.Data[k]))
		h.Write(sec.Data[k])
	}
	copy(reg.sum[:], h.Sum(nil))

	raw := sec.Data[clusterKubeconfig]
	if len(raw) == 0 {
		return reg, fmt.Errorf("%s: no key %q", where, clusterKubeconfig)
	}
	kc, err := clientcmd.Load(raw)
	if err != nil {
		return reg, fmt.Errorf("%s: %s does not parse: %w", where, clusterKubeconfig, err)
	}
	ctxName := kc.CurrentContext
	kctx := kc.Contexts[ctxName]
	if kctx == nil {
		return reg, fmt.Errorf("%s: %s has no current context", where, clusterKubeconfig)
	}
	cl, user := kc.Clusters[kctx.Cluster], kc.AuthInfos[kctx.AuthInfo]
	if cl == nil || user == nil {
		return reg, fmt.Errorf("%s: context %q names a cluster or user the %s does not have", where, ctxName, clusterKubeconfig)
	}
	switch {
	case user.Exec != nil || user.AuthProvider != nil:
		return reg, fmt.Errorf("%s: user %q runs a credential plugin; only inline credentials (token, client certificate) are accepted", where, kctx.AuthInfo)
	case user.TokenFile != "" || user.ClientCertificate != "" || user.ClientKey != "" || cl.CertificateAuthority != "":
		return reg, fmt.Errorf("%s: the %s names files; put the token, certificates and keys inline (token, *-data)", where, clusterKubeconfig)
	}
	if reg.config, err = clientcmd.NewNonInteractiveClientConfig(*kc, ctxName, &clientcmd.ConfigOverrides{}, nil).ClientConfig(); err != nil {
		return reg, fmt.Errorf("%s: %s: %w", where, clusterKubeconfig, err)
	}
	reg.config.QPS, reg.config.Burst = 50, 100
	reg.config.UserAgent = "storeops"
	role, subject := string(sec.Data[clusterStoreRole]), string(sec.Data[clusterRoleSubject])
	if role != "" || subject != "" {
		rf := storeRoleFlags{clusterRole: role, subject: subject}
		if reg.storeRole, err = rf.role(); err != nil {
			return reg, fmt.Errorf("%s: %s and %s: %w", where, clusterStoreRole, clusterRoleSubject, err)
		}
	}
	return reg, nil
}

// registrations keeps the clusters registered by Secrets in step with
// them.
type registrations struct {
	e      *engine
	ctx    context.Context
	mu     sync.Mutex
	bySec  map[string]*registration // Secret name: what it registers
	logged map[string]string        // Secret name: the last error logged
}

// watchClusters registers the clusters of the cluster Secrets in storeops'
// namespace (with --clusters) and keeps following them: a new or changed
// Secret (re)wires its cluster, a deleted one holds its stores. It returns
// once the Secrets were listed; the clusters' own caches fill in the
// background (their stores are held until then).
func (e *engine) watchClusters(ctx context.Context) error {
	if !e.flags.clusters {
		return nil
	}
	// A refusal (RBAC) would keep the informer below retrying for ever:
	// say it at once.
	if _, err := e.client.CoreV1().Secrets(e.flags.lease.namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelCluster, Limit: 1}); err != nil {
		return fmt.Errorf("--clusters: list the cluster Secrets in namespace %s: %w", e.flags.lease.namespace, err)
	}
	r := &registrations{e: e, ctx: ctx, bySec: map[string]*registration{}, logged: map[string]string{}}
	factory := informers.NewSharedInformerFactoryWithOptions(e.client, 0,
		informers.WithNamespace(e.flags.lease.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelCluster }))
	inf := factory.Core().V1().Secrets().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.update(obj) },
		UpdateFunc: func(_, obj any) { r.update(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if sec, ok := obj.(*corev1.Secret); ok {
				r.drop(sec.Name)
			}
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errors.New("cluster Secrets not listed: " + context.Cause(ctx).Error())
	}
	// The handlers may not have seen every Secret listed yet: register
	// them now (a Secret seen twice is wired once).
	for _, obj := range inf.GetStore().List() {
		r.update(obj)
	}
	return nil
}

// awaitClusters waits, at most timeout, until every registered cluster is
// observed, for the one-shot commands (plan, sync --once): the stores of a
// cluster that is not are held, as serve holds them.
func (e *engine) awaitClusters(ctx context.Context, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range e.clusters.Names() {
		if !e.clusters.WaitObserved(ctx, name) {
			e.log.Warn("target cluster not observed; its stores are held", "cluster", render.ClusterName(name), "why", e.clusters.Down(name))
		}
	}
}

func (r *registrations) update(obj any) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	reg, err := parseRegistration(sec)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.bySec[sec.Name]
	if reg != nil && old != nil && old.sum == reg.sum && old.name == reg.name {
		return // resynced or relabelled alike: nothing to wire again
	}
	if old != nil && (reg == nil || old.name != reg.name) {
		r.e.clusters.Remove(old.name, "")
	}
	delete(r.bySec, sec.Name)
	if reg == nil {
		r.logOnce(sec.Name, err)
		return
	}
	r.bySec[sec.Name] = reg
	if err == nil {
		err = r.wire(reg)
	}
	if err != nil {
		r.logOnce(sec.Name, err)
		r.e.clusters.Remove(reg.name, err.Error())
		return
	}
	delete(r.logged, sec.Name)
	r.e.log.Info("target cluster registered", "cluster", reg.name, "secret", sec.Name, "server", reg.config.Host)
}

// wire starts the registered cluster's observer, applier and probe.
func (r *registrations) wire(reg *registration) error {
	for sec, other := range r.bySec {
		if other != reg && other.name == reg.name {
			return fmt.Errorf("cluster %s is registered by Secret %s too; one Secret a cluster", reg.name, sec)
		}
	}
	m, err := r.e.member(reg.name, reg.config, reg, r.e.log)
	if err != nil {
		return err
	}
	r.e.clusters.Add(r.ctx, m)
	return r.e.startEvents(r.ctx, m)
}

func (r *registrations) drop(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg := r.bySec[secret]; reg != nil {
		delete(r.bySec, secret)
		r.e.clusters.Remove(reg.name, "")
		r.e.log.Info("target cluster unregistered: its stores are held", "cluster", reg.name, "secret", secret)
	}
	delete(r.logged, secret)
}

func (r *registrations) logOnce(secret string, err error) {
	if err == nil || r.logged[secret] == err.Error() {
		return
	}
	r.logged[secret] = err.Error()
	r.e.log.Error("cluster Secret not usable", "secret", secret, "err", strings.TrimSpace(err.Error()))
}

// clusterReader reads the pods, events and quota of a store namespace on
// the cluster the store lives on (as the status last showed it).
type clusterReader struct {
	e     *engine
	local web.ClusterReader
}

var _ web.ClusterReader = clusterReader{}

func (c clusterReader) on(namespace string) (web.ClusterReader, error) {
	snap := c.e.board.Current()
	if snap == nil {
		return c.local, nil
	}
	st, ok := snap.Store(strings.TrimPrefix(namespace, render.NamespacePrefix))
	if !ok || st.Cluster == "" {
		return c.local, nil
	}
	m := c.e.clusters.Member(st.Cluster)
	if m == nil {
		return nil, errors.New(c.e.clusters.Down(st.Cluster))
	}
	return web.NewClusterReader(m.Client), nil
}

func (c clusterReader) Pods(ctx context.Context, namespace string) ([]web.Pod, error) {
	r, err := c.on(namespace)
	if err != nil {
		return nil, err
	}
	return r.Pods(ctx, namespace)
}

func (c clusterReader) Events(ctx context.Context, namespace string, limit int) ([]web.Event, error) {
	r, err := c.on(namespace)
	if err != nil {
		return nil, err
	}
	return r.Events(ctx, namespace, limit)
}

func (c clusterReader) QuotaUsage(ctx context.Context, namespace string) ([]web.QuotaUsage, error) {
	r, err := c.on(namespace)
	if err != nil {
		return nil, err
	}
	return r.QuotaUsage(ctx, namespace)
}
