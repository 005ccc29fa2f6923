package reconcile_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkClusterSecretInformers measures what the observer's Secret
// informers (one per store namespace) cost on the local control plane: n
// sealed store namespaces, each with a credentials Secret and a Helm
// release record, then the observer started over them. It reports the
// time to sync every cache, and the goroutines, live heap and stacks the
// observer adds, in total and per namespace. Run it with `make bench-cluster`.
func BenchmarkClusterSecretInformers(b *testing.B) {
	for _, n := range []int{300} {
		b.Run(fmt.Sprintf("namespaces=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				benchSecretInformers(b, n, i)
			}
		})
	}
}

func benchSecretInformers(b *testing.B, n, round int) {
	c := testcluster.Get(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	instance := fmt.Sprintf("benchsec%d", round)
	inst := reconcile.Instance{Name: instance, Key: []byte("a benchmark's instance key, 32+ bytes")}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("benchsec-%d-%d", round, i)
	}
	b.Cleanup(func() {
		for _, s := range names {
			_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), render.NamespacePrefix+s, metav1.DeleteOptions{})
		}
	})
	// The fleet, made by the admin with 8 workers.
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if err := makeSealedStore(ctx, c.Client, inst, s); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range names {
		work <- s
	}
	close(work)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}

	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		b.Fatal(err)
	}
	goroutines, heap, stack := runtimeFigures()
	start := time.Now()
	observer := reconcile.NewObserver(client, inst, nil)
	if !observer.Start(ctx.Done()) {
		b.Fatal("informers did not sync")
	}
	synced := time.Since(start)
	obs := observer.Observe()
	for _, s := range names {
		if o := obs.Stores[s]; o == nil || o.Unsynced || !o.Credentials || o.Release == nil {
			b.Fatalf("store %s observed as %+v", s, o)
		}
	}
	g, h, st := runtimeFigures()
	b.ReportMetric(synced.Seconds(), "s-to-sync")
	b.ReportMetric(float64(g-goroutines), "goroutines")
	b.ReportMetric(float64(g-goroutines)/float64(n), "goroutines/ns")
	b.ReportMetric(float64(h-heap)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(h-heap)/1024/float64(n), "KiB-heap/ns")
	b.ReportMetric(float64(st-stack)/(1<<20), "MiB-stacks")
	runtime.KeepAlive(observer)
}

// runtimeFigures are the goroutines, the live heap after a collection and
// the goroutines' stacks.
func runtimeFigures() (goroutines int, heap, stacks uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc, m.StackInuse
}

// makeSealedStore makes what a store of inst leaves in the cluster for the
// observer's Secret informer: its namespace, sealed, its credentials and a
// Helm release record (a small one).
func makeSealedStore(ctx context.Context, k kubernetes.Interface, inst reconcile.Instance, store string) error {
	name := render.NamespacePrefix + store
	ns, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		render.LabelManagedBy: render.ManagedBy, reconcile.LabelInstance: inst.Name, render.LabelStore: store}}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	ns.Annotations = map[string]string{reconcile.AnnotationOwner: inst.Seal(ns)}
	if _, err := k.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		return err
	}
	secrets := k.CoreV1().Secrets(name)
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: render.CredentialsSecret, Labels: map[string]string{
		render.LabelManagedBy: render.ManagedBy, reconcile.LabelInstance: inst.Name}},
		StringData: map[string]string{"password": "benchmark"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err = secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1." + store + ".v1", Labels: map[string]string{
		"owner": "helm", "name": store, "version": "1", "status": "deployed", reconcile.LabelInstance: inst.Name}},
		Type: "helm.sh/release.v1", Data: map[string][]byte{"release": []byte("not a release")}}, metav1.CreateOptions{})
	return err
}
