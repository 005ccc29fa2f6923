// Package sessions shares the dashboard's logouts between the replicas of
// storeops through the cluster: a logout on any replica is refused by
// every replica at once, not only by the one that saw it.
//
// The revoked sessions are kept in one ConfigMap of storeops' own
// namespace, which every replica watches: a key per revoked session (a
// digest of its ID, never the ID itself) whose value is when the entry may
// go (the session's expiry, or sooner its idle timeout: a revoked session
// is never used again, so it idles out). The ConfigMap stays small: expired
// entries are dropped at each logout, and when MaxEntries would be passed,
// every session issued so far is revoked at once (one timestamp) instead.
package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

const (
	// MaxEntries bounds the revoked sessions kept one by one (about 40
	// bytes each).
	MaxEntries = 5000
	// keyBefore holds the Unix time before which every session issued is
	// revoked.
	keyBefore = "revoked-before"
)

// Name is the ConfigMap of an instance's revoked sessions.
func Name(instance string) string { return instance + "-sessions" }

// Revocations is the revoked sessions of the dashboard, shared through a
// ConfigMap. Create it with New and Run it; until its first read of the
// ConfigMap it refuses every session.
type Revocations struct {
	configMaps typedcorev1.ConfigMapInterface
	namespace  string
	name       string
	log        *slog.Logger
	now        func() time.Time

	synced  atomic.Bool
	mu      sync.Mutex
	entries map[string]time.Time // digest of a session ID: until when it is kept
	before  time.Time            // sessions issued before it are revoked
}

// New returns the revocations kept in the ConfigMap namespace/name.
func New(client kubernetes.Interface, namespace, name string, log *slog.Logger) *Revocations {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Revocations{configMaps: client.CoreV1().ConfigMaps(namespace), namespace: namespace, name: name,
		log: log, now: time.Now, entries: map[string]time.Time{}}
}

// Run watches the ConfigMap until ctx ends.
func (r *Revocations) Run(ctx context.Context) {
	byName := fields.OneTermEqualSelector("metadata.name", r.name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return r.configMaps.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return r.configMaps.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.load(obj) },
		UpdateFunc: func(_, obj any) { r.load(obj) },
		// Deleted by a person: the sessions it revoked stay revoked here
		// until this replica restarts.
	})
	go inf.RunWithContext(ctx)
	if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		r.synced.Store(true)
	}
	<-ctx.Done()
}

// WaitSynced waits until the ConfigMap was read once, or ctx ends.
func (r *Revocations) WaitSynced(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), r.synced.Load)
}

// load merges a version of the ConfigMap into what is known: entries are
// only ever added here (an entry dropped from the ConfigMap has expired).
func (r *Revocations) load(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	entries, before := decode(cm)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, until := range r.entries {
		if !until.After(now) {
			delete(r.entries, k)
		}
	}
	for k, until := range entries {
		r.entries[k] = until
	}
	if before.After(r.before) {
		r.before = before
	}
}

func decode(cm *corev1.ConfigMap) (map[string]time.Time, time.Time) {
	entries := make(map[string]time.Time, len(cm.Data))
	var before time.Time
	for k, v := range cm.Data {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		if k == keyBefore {
			before = time.Unix(n, 0)
			continue
		}
		entries[k] = time.Unix(n, 0)
	}
	return entries, before
}

// digest is the ConfigMap key of a session ID.
func digest(id string) string {
	sum := sha256.Sum256([]byte("storeops-session\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// Revoked reports whether the session id, issued at issued, was logged
// out. Until the ConfigMap was read once, every session is.
func (r *Revocations) Revoked(id string, issued time.Time) bool {
	if !r.synced.Load() {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if issued.Before(r.before) {
		return true
	}
	_, ok := r.entries[digest(id)]
	return ok
}

// Revoke records that the session id is logged out; the record is kept
// until until (the session's expiry or idle end, whichever comes first).
// Once it returns, this replica refuses the session; the others do as soon
// as their watch delivers the change.
func (r *Revocations) Revoke(ctx context.Context, id string, until time.Time) error {
	key := digest(id)
	var written *corev1.ConfigMap
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		now := r.now()
		cm, err := r.configMaps.Get(ctx, r.name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		if create {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: r.namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "storeops", "app.kubernetes.io/component": "dashboard-sessions"}}}
		}
		entries, before := decode(cm)
		for k, t := range entries {
			if !t.After(now) {
				delete(entries, k)
			}
		}
		entries[key] = until.Truncate(time.Second).Add(time.Second) // whole seconds, rounded up
		if len(entries) > MaxEntries {
			// Too many at once: revoke every session issued until now
			// (everyone logs in again) rather than let the list grow.
			entries, before = map[string]time.Time{}, now.Add(time.Second)
			r.log.Warn("dashboard: more logouts than the revocation list holds; every session issued so far is revoked", "max", MaxEntries)
		}
		cm.Data = make(map[string]string, len(entries)+1)
		for k, t := range entries {
			cm.Data[k] = strconv.FormatInt(t.Unix(), 10)
		}
		if !before.IsZero() {
			cm.Data[keyBefore] = strconv.FormatInt(before.Unix(), 10)
		}
		if create {
			written, err = r.configMaps.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), r.name, err)
			}
			return err
		}
		written, err = r.configMaps.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("record the logout in ConfigMap %s/%s: %w", r.namespace, r.name, err)
	}
	r.load(written)
	return nil
}
