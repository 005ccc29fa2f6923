package reconcile

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// storeSecrets keeps the Secrets of the store namespaces: one informer per
// namespace this instance owns, started when the namespace informer shows
// it and stopped when it goes. Each holds both kinds of Secret a store has
// (its credentials and its Helm release records, selected by the
// instance label and slimmed by slim), so storeops needs the Secret verbs
// only inside store namespaces, where it binds its store role, and never
// across the cluster.
type storeSecrets struct {
	client   kubernetes.Interface
	selector string
	onChange func(store string)

	mu     sync.Mutex
	stop   <-chan struct{} // the observer's; nil before Start
	byNS   map[string]*nsSecrets
	wanted map[string]bool // namespaces to watch, remembered before Start
}

// nsSecrets is the Secret informer of one store namespace: a plain
// informer (no shared processor), its handlers called in its own loop.
type nsSecrets struct {
	store cache.Store
	ctl   cache.Controller
	stop  chan struct{}
	kick  chan struct{} // list again now (the store role was just bound)
	// refused is set while the namespace's Secrets may not be listed
	// (Forbidden: its RoleBinding of the store role is missing).
	refused atomic.Bool
}

func newStoreSecrets(client kubernetes.Interface, instance string, onChange func(store string)) *storeSecrets {
	return &storeSecrets{client: client, selector: LabelInstance + "=" + instance, onChange: onChange,
		byNS: map[string]*nsSecrets{}, wanted: map[string]bool{}}
}

// start runs the informers of the namespaces wanted so far, and of those
// wanted later, until stop is closed.
func (s *storeSecrets) start(stop <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop = stop
	for ns := range s.wanted {
		s.startLocked(ns)
	}
	go func() {
		<-stop
		s.mu.Lock()
		defer s.mu.Unlock()
		for ns, n := range s.byNS {
			close(n.stop)
			delete(s.byNS, ns)
		}
	}()
}

// want starts the informer of namespace ns unless it runs; drop stops it.
func (s *storeSecrets) want(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wanted[ns] = true
	if s.stop != nil {
		s.startLocked(ns)
	}
}

func (s *storeSecrets) drop(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.wanted, ns)
	if n, ok := s.byNS[ns]; ok {
		close(n.stop)
		delete(s.byNS, ns)
	}
}

// rewatch makes the informer of ns list again at once if its Secrets were
// refused, now that its store role is bound, rather than after the
// refusal's wait.
func (s *storeSecrets) rewatch(ns string) {
	s.mu.Lock()
	n, ok := s.byNS[ns]
	s.mu.Unlock()
	if !ok {
		return
	}
	// Not refused any more as far as is known: unsynced until it lists.
	n.refused.Store(false)
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// refusedRetry is how long a namespace whose Secrets were refused waits
// before listing them again, unless rewatch comes first.
const refusedRetry = 30 * time.Second

func (s *storeSecrets) startLocked(ns string) {
	if _, ok := s.byNS[ns]; ok {
		return
	}
	select {
	case <-s.stop:
		return
	default:
	}
	n := &nsSecrets{stop: make(chan struct{}), kick: make(chan struct{}, 1)}
	store := storeOfNamespace(ns)
	notify := func() {
		if s.onChange != nil {
			s.onChange(store)
		}
	}
	secrets := s.client.CoreV1().Secrets(ns)
	lw := &cache.ListWatch{
		// A refused list is retried here, quietly, rather than failed to
		// the reflector, which would log it and back off: it is expected
		// for a moment after a store namespace is made, before storeops
		// binds its store role there. The store is not observable until
		// it lists; the reconciler hears of the refusal once, so that it
		// can bind the role if that is what is missing.
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = s.selector
			for {
				list, err := secrets.List(ctx, o)
				if !apierrors.IsForbidden(err) {
					if err == nil && n.refused.Swap(false) {
						notify()
					}
					return list, err
				}
				if !n.refused.Swap(true) {
					notify()
				}
				retry := time.NewTimer(refusedRetry)
				select {
				case <-n.kick:
				case <-retry.C:
				case <-n.stop:
				case <-ctx.Done():
				}
				retry.Stop()
				select {
				case <-n.stop:
					return nil, err
				case <-ctx.Done():
					return nil, err
				default:
				}
			}
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = s.selector
			return secrets.Watch(ctx, o)
		},
	}
	n.store, n.ctl = cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		Transform:     slim,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { notify() },
			UpdateFunc: func(_, _ any) { notify() },
			DeleteFunc: func(any) { notify() },
		},
	})
	s.byNS[ns] = n
	go n.ctl.Run(n.stop)
	// A namespace with no Secret yet lists nothing: no event says it is
	// synced, so tell the reconciler when it is.
	go func() {
		if cache.WaitForCacheSync(n.stop, n.ctl.HasSynced) {
			notify()
		}
	}()
}

// get returns the informer of ns and whether it has listed (synced), or
// nil when none runs.
func (s *storeSecrets) get(ns string) (n *nsSecrets, synced bool) {
	s.mu.Lock()
	n = s.byNS[ns]
	s.mu.Unlock()
	if n == nil {
		return nil, false
	}
	return n, n.ctl.HasSynced()
}

// settle waits until the informer of every namespace wanted now has
// listed or was refused (a refused namespace is reported by Observe, not
// waited for). It reports false if stop closed first.
func (s *storeSecrets) settle(stop <-chan struct{}) bool {
	s.mu.Lock()
	pending := make([]*nsSecrets, 0, len(s.byNS))
	for _, n := range s.byNS {
		pending = append(pending, n)
	}
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		left := pending[:0]
		for _, n := range pending {
			if !n.ctl.HasSynced() && !n.refused.Load() {
				left = append(left, n)
			}
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		select {
		case <-stop:
			return false
		case <-tick.C:
		}
	}
	return true
}
