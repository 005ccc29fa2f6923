package reconcile

import (
	"sort"
	"strings"
	"sync"

	"github.com/storeops/storeops/render"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Observer keeps informer caches of everything a store is made of, so that
// observing costs no API call. Start it once; Observe as often as needed.
type Observer struct {
	client   kubernetes.Interface
	instance Instance
	onChange func(store string)

	managed   informers.SharedInformerFactory // labelled managed-by=storeops
	workloads informers.SharedInformerFactory // workloads of every namespace
	// secrets holds the credentials and Helm release records of each
	// store namespace, one informer per namespace (never the Secrets of
	// the whole cluster).
	secrets *storeSecrets

	namespaces  cache.SharedIndexInformer
	quotas      cache.SharedIndexInformer
	limitRanges cache.SharedIndexInformer
	policies    cache.SharedIndexInformer
	deployments cache.SharedIndexInformer
	statefuls   cache.SharedIndexInformer
	jobs        cache.SharedIndexInformer
	pvcs        cache.SharedIndexInformer
	services    cache.SharedIndexInformer
	ingresses   cache.SharedIndexInformer

	mu      sync.Mutex
	decoded map[string]decodedRelease // by Secret UID
}

// NewObserver prepares the informers for the stores of one instance: only
// objects labelled with the instance are cached, so another instance's
// stores are invisible. onChange, if not nil, is called after every change
// seen in the cluster with the name of the store the object belongs to
// ("" when it belongs to none), from the informers' goroutines: it must
// not block.
func NewObserver(client kubernetes.Interface, instance Instance, onChange func(store string)) *Observer {
	managedSel := informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = render.LabelManagedBy + "=" + render.ManagedBy + "," + LabelInstance + "=" + instance.Name
	})
	o := &Observer{
		client:   client,
		instance: instance,
		onChange: onChange,
		managed:  informers.NewSharedInformerFactoryWithOptions(client, 0, managedSel),
		secrets:  newStoreSecrets(client, instance.Name, onChange),
		workloads: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = WorkloadSelector()
		})),
		decoded: map[string]decodedRelease{},
	}
	o.namespaces = o.managed.Core().V1().Namespaces().Informer()
	o.quotas = o.managed.Core().V1().ResourceQuotas().Informer()
	o.limitRanges = o.managed.Core().V1().LimitRanges().Informer()
	o.policies = o.managed.Networking().V1().NetworkPolicies().Informer()
	o.deployments = o.workloads.Apps().V1().Deployments().Informer()
	o.statefuls = o.workloads.Apps().V1().StatefulSets().Informer()
	o.jobs = o.workloads.Batch().V1().Jobs().Informer()
	o.pvcs = o.workloads.Core().V1().PersistentVolumeClaims().Informer()
	o.services = o.workloads.Core().V1().Services().Informer()
	o.ingresses = o.workloads.Networking().V1().Ingresses().Informer()
	for _, inf := range o.all() {
		_ = inf.SetTransform(slim)
		_ = inf.AddIndexers(cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		if onChange != nil {
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { onChange(StoreOf(obj)) },
				UpdateFunc: func(_, obj any) { onChange(StoreOf(obj)) },
				DeleteFunc: func(obj any) { onChange(StoreOf(obj)) },
			})
		}
	}
	// Each store namespace of this instance has a Secret informer while
	// it exists. The reconciler may hear of a namespace before its
	// informer has listed: Observe reports the store Unsynced until then.
	_, _ = o.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    o.watchSecretsOf,
		UpdateFunc: func(_, obj any) { o.watchSecretsOf(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if ns, ok := obj.(*corev1.Namespace); ok {
				o.secrets.drop(ns.Name)
			}
		},
	})
	return o
}

// StoreOf names the store an informer object belongs to: the store of its
// namespace (or of the namespace itself), "" for none.
func StoreOf(obj any) string {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		ns, name, _ := cache.SplitMetaNamespaceKey(tomb.Key)
		if ns == "" {
			ns = name // a Namespace
		}
		return storeOfNamespace(ns)
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return ""
	}
	if _, isNS := obj.(*corev1.Namespace); isNS {
		return storeOfNamespace(m.GetName())
	}
	return storeOfNamespace(m.GetNamespace())
}

func storeOfNamespace(ns string) string {
	name, ok := strings.CutPrefix(ns, render.NamespacePrefix)
	if !ok {
		return ""
	}
	return name
}

// WorkloadSelector selects what the store charts render, so that the
// workload caches hold the fleet's objects and not the whole cluster's:
// every object of the charts, and every volume claim template, carries
// app.kubernetes.io/name set to its chart's name (TestChartsCarryTheName
// keeps it so).
func WorkloadSelector() string {
	names := make([]string, 0, len(render.Types))
	for _, t := range render.Types {
		names = append(names, string(t))
	}
	sort.Strings(names)
	return "app.kubernetes.io/name in (" + strings.Join(names, ",") + ")"
}

// slim drops what the observer never reads before an object enters a
// cache: managed fields everywhere, the data of credentials Secrets (only
// their existence counts), the encoded release of superseded Helm
// records (only the newest is decoded), and the pod templates of
// workloads but their containers' names and images (health reads the
// status and replicas, drift the replicas and images; a Job's health only
// its status): the pod templates were most of the workload caches.
func slim(obj any) (any, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	// nil (not empty) managed fields: an update built from a cached copy
	// leaves the server's as they are. Annotations stay whole for the same
	// reason: the applier updates namespaces, quotas, limit ranges and
	// policies from their cached copies.
	m.SetManagedFields(nil)
	switch w := obj.(type) {
	case *appsv1.Deployment:
		w.Spec.Template = slimTemplate(w.Spec.Template)
	case *appsv1.StatefulSet:
		w.Spec.Template = slimTemplate(w.Spec.Template)
		w.Spec.VolumeClaimTemplates = nil
	case *batchv1.Job:
		w.Spec.Template = corev1.PodTemplateSpec{}
	}
	if sec, ok := obj.(*corev1.Secret); ok {
		switch {
		case sec.Labels["owner"] == "helm" && sec.Labels["status"] == "superseded":
			sec.Data = nil
		case sec.Labels[render.LabelManagedBy] == render.ManagedBy:
			sec.Data, sec.StringData = nil, nil
		}
	}
	return obj, nil
}

// slimTemplate keeps of a pod template its containers' names and images.
func slimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	keep := func(cs []corev1.Container) []corev1.Container {
		if cs == nil {
			return nil
		}
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Image: c.Image}
		}
		return out
	}
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: keep(t.Spec.InitContainers), Containers: keep(t.Spec.Containers)}}
}

func (o *Observer) all() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{o.namespaces, o.quotas, o.limitRanges, o.policies,
		o.deployments, o.statefuls, o.jobs, o.pvcs, o.services, o.ingresses}
}

// Start runs the informers until stop is closed and waits for their first
// list, the Secret informer of every store namespace included (one whose
// Secrets storeops may not read is not waited for: Observe reports it
// Unsynced). It reports false if stop closed first.
func (o *Observer) Start(stop <-chan struct{}) bool {
	o.secrets.start(stop)
	o.managed.Start(stop)
	o.workloads.Start(stop)
	var synced []cache.InformerSynced
	for _, inf := range o.all() {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(stop, synced...) {
		return false
	}
	// The namespace informer's handlers may not have seen every namespace
	// yet: start the Secret informers of those listed now.
	for _, ns := range o.namespaces.GetStore().List() {
		o.watchSecretsOf(ns)
	}
	return o.secrets.settle(stop)
}

// watchSecretsOf starts the Secret informer of a store namespace this
// instance owns (sealed, or its creation recorded), and stops it when the
// namespace stops being one.
func (o *Observer) watchSecretsOf(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	if o.storeNamespace(ns) && o.instance.Owns(ns) {
		o.secrets.want(ns.Name)
	} else {
		o.secrets.drop(ns.Name)
	}
}

// storeNamespace reports whether ns is a namespace made for a store: named
// store-<name> after its store label.
func (o *Observer) storeNamespace(ns *corev1.Namespace) bool {
	name := ns.Labels[render.LabelStore]
	return name != "" && ns.Name == render.NamespacePrefix+name
}

// Synced reports whether the Secrets of a store (its credentials, its
// Helm release records) are in the cache, so that its observation tells
// their absence from their being unknown. It is true for a store whose
// namespace does not exist or is not this instance's: there is nothing of
// it to wait for.
func (o *Observer) Synced(store string) bool {
	it, ok, _ := o.namespaces.GetStore().GetByKey(render.NamespacePrefix + store)
	if !ok {
		return true
	}
	ns := it.(*corev1.Namespace)
	if !o.storeNamespace(ns) || ns.Labels[render.LabelStore] != store || !o.instance.Owns(ns) {
		return true
	}
	_, synced := o.secrets.get(ns.Name)
	return synced
}

// Rewatch makes the Secret informer of namespace ns list again at once if
// its Secrets were refused (before storeops bound its store role there),
// rather than after a wait. ClusterApplier.OnBound takes it.
func (o *Observer) Rewatch(ns string) { o.secrets.rewatch(ns) }

// inNamespace lists the cached objects of one namespace.
func inNamespace[T any](inf cache.SharedIndexInformer, ns string) []T {
	items, _ := inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	out := make([]T, 0, len(items))
	for _, it := range items {
		if t, ok := it.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// cached looks one object up in an informer's cache by namespace and name.
func cached[T any](inf cache.SharedIndexInformer, ns, name string) (T, bool) {
	var zero T
	it, ok, _ := inf.GetIndexer().GetByKey(ns + "/" + name)
	if !ok {
		return zero, false
	}
	t, ok := it.(T)
	return t, ok
}

// Observe returns the live state of every managed store, read from the
// caches. The objects are shared with the caches: do not modify them.
func (o *Observer) Observe() Observed {
	out := Observed{Stores: map[string]*ObservedStore{}}
	for _, it := range o.namespaces.GetStore().List() {
		ns := it.(*corev1.Namespace)
		if !o.storeNamespace(ns) {
			continue // not a namespace storeops made for a store
		}
		name := ns.Labels[render.LabelStore]
		out.Stores[name] = o.observeStore(name, ns)
	}
	return out
}

// StoreNames returns the name of every store whose namespace the caches
// hold, without observing it.
func (o *Observer) StoreNames() []string {
	var out []string
	for _, it := range o.namespaces.GetStore().List() {
		if ns := it.(*corev1.Namespace); o.storeNamespace(ns) {
			out = append(out, ns.Labels[render.LabelStore])
		}
	}
	return out
}

// ObserveStore returns the live state of one store, read from the caches
// (nil when no namespace of it exists); see Observe.
func (o *Observer) ObserveStore(name string) *ObservedStore {
	it, ok, _ := o.namespaces.GetStore().GetByKey(render.NamespacePrefix + name)
	if !ok {
		return nil
	}
	ns := it.(*corev1.Namespace)
	if ns.Labels[render.LabelStore] != name {
		return nil // not a namespace storeops made for this store
	}
	return o.observeStore(name, ns)
}

func (o *Observer) observeStore(name string, ns *corev1.Namespace) *ObservedStore {
	s := &ObservedStore{Name: name, Namespace: ns, Owned: o.instance.Owns(ns)}
	s.ReadyRevision, s.DataSince = readinessMarks(ns)
	for _, p := range inNamespace[*corev1.PersistentVolumeClaim](o.pvcs, ns.Name) {
		s.Volumes++
		if p.Status.Phase == corev1.ClaimBound || p.Spec.VolumeName != "" {
			s.BoundVolumes++ // bound now, or once (a Lost claim names its volume)
		}
	}
	s.Quota, _ = cached[*corev1.ResourceQuota](o.quotas, ns.Name, render.QuotaName)
	s.LimitRange, _ = cached[*corev1.LimitRange](o.limitRanges, ns.Name, render.LimitRangeName)
	s.NetworkPolicy, _ = cached[*networkingv1.NetworkPolicy](o.policies, ns.Name, render.NetworkPolicyName)
	s.Workloads = o.health(ns.Name)
	if !s.Owned {
		return s // no Secret informer: storeops neither reads nor acts on it
	}
	secrets, synced := o.secrets.get(ns.Name)
	if !synced {
		// Credentials and release are unknown, not absent.
		s.Unsynced = true
		s.SecretsRefused = secrets != nil && secrets.refused.Load()
		return s
	}
	_, s.Credentials, _ = secrets.store.GetByKey(ns.Name + "/" + render.CredentialsSecret)
	rel, manifest := o.release(name, secrets.store)
	s.Release = rel
	if rel != nil && manifest != nil {
		s.Missing, s.Drifted = o.drift(ns.Name, manifest)
	}
	return s
}

// release reads the latest Helm release record of the store from its
// namespace's Secrets.
func (o *Observer) release(name string, secrets cache.Store) (*ReleaseInfo, *parsedManifest) {
	var latest *corev1.Secret
	latestVersion, deployed := -1, false
	for _, it := range secrets.List() {
		sec, ok := it.(*corev1.Secret)
		if !ok || sec.Labels["owner"] != "helm" || sec.Labels["name"] != name {
			continue
		}
		v := atoi(sec.Labels["version"])
		if v > latestVersion {
			latest, latestVersion = sec, v
		}
		if st := sec.Labels["status"]; st == StatusDeployed || st == "superseded" {
			deployed = true
		}
	}
	if latest == nil {
		return nil, nil
	}
	d := o.decode(latest)
	if d.info == nil {
		// An unreadable record still tells status and revision.
		return &ReleaseInfo{Name: name, Revision: latestVersion, Status: latest.Labels["status"],
			Instance: latest.Labels[LabelInstance], HasDeployedRevision: deployed}, nil
	}
	info := *d.info
	info.HasDeployedRevision = deployed
	return &info, d.manifest
}

func (o *Observer) decode(sec *corev1.Secret) decodedRelease {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := string(sec.UID)
	if d, ok := o.decoded[key]; ok && d.resourceVersion == sec.ResourceVersion {
		return d
	}
	d := decodeReleaseSecret(sec)
	o.decoded[key] = d
	if len(o.decoded) > 4096 { // forget records of deleted releases now and then
		o.decoded = map[string]decodedRelease{key: d}
	}
	return d
}

// health returns the readiness of every workload in a namespace, sorted by
// kind and name.
func (o *Observer) health(ns string) []Workload {
	var out []Workload
	for _, d := range inNamespace[*appsv1.Deployment](o.deployments, ns) {
		out = append(out, DeploymentHealth(d))
	}
	for _, s := range inNamespace[*appsv1.StatefulSet](o.statefuls, ns) {
		out = append(out, StatefulSetHealth(s))
	}
	for _, j := range inNamespace[*batchv1.Job](o.jobs, ns) {
		if madeByCronJob(j) {
			continue // a periodic run (WP-Cron) says nothing of the store's health
		}
		out = append(out, JobHealth(j))
	}
	for _, p := range inNamespace[*corev1.PersistentVolumeClaim](o.pvcs, ns) {
		out = append(out, PVCHealth(p))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// drift compares the release's objects with the caches: objects gone, and
// Deployments or StatefulSets whose replicas or images were changed.
func (o *Observer) drift(ns string, m *parsedManifest) (missing, drifted []string) {
	for _, obj := range m.objects {
		var inf cache.SharedIndexInformer
		switch obj.Kind {
		case "Deployment":
			inf = o.deployments
		case "StatefulSet":
			inf = o.statefuls
		case "Service":
			inf = o.services
		case "Ingress":
			inf = o.ingresses
		case "PersistentVolumeClaim":
			inf = o.pvcs
		default:
			continue
		}
		if obj.Namespace != "" && obj.Namespace != ns {
			continue
		}
		live, ok := cached[any](inf, ns, obj.Name)
		if !ok {
			missing = append(missing, obj.Kind+"/"+obj.Name)
			continue
		}
		var replicas *int32
		var spec corev1.PodSpec
		switch l := live.(type) {
		case *appsv1.Deployment:
			replicas, spec = l.Spec.Replicas, l.Spec.Template.Spec
		case *appsv1.StatefulSet:
			replicas, spec = l.Spec.Replicas, l.Spec.Template.Spec
		default:
			continue
		}
		if replicasOr1(replicas) != replicasOr1(obj.replicas) {
			drifted = append(drifted, obj.Kind+"/"+obj.Name+" replicas")
		}
		if images := containerImages(spec); obj.images != nil && !equalStrings(images, obj.images) {
			drifted = append(drifted, obj.Kind+"/"+obj.Name+" images")
		}
	}
	sort.Strings(missing)
	sort.Strings(drifted)
	return missing, drifted
}

func containerImages(spec corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.InitContainers {
		out = append(out, c.Image)
	}
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func replicasOr1(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func madeByCronJob(j *batchv1.Job) bool {
	for _, ref := range j.OwnerReferences {
		if ref.Kind == "CronJob" {
			return true
		}
	}
	return false
}
