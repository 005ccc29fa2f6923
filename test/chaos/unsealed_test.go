package chaos_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storeops/storeops/reconcile"
)

// Found by the kill -9 case: storeops creates a store's namespace, then
// seals it with its proof of creation (an HMAC over instance, name and
// UID, which exists only once the namespace does). Killed between the two
// requests, it found after the restart a namespace with its labels and no
// proof, refused to adopt it, and the new store stayed Blocked ("was not
// created by instance") until a person deleted the namespace. Fixed: the
// intent to create the namespace is recorded on the instance key Secret
// first and carried by the namespace (reconcile/intent.go); the next run
// seals it. The test holds every write after the namespace's creation
// (the proxy), kills the daemon, restarts it and expects the store to
// converge, its namespace sealed and the intent cleared.
func TestKillAfterNamespaceCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "bug: kill -9 after namespace creation", "seal", map[string]storeSpec{"chaos-n-a": {Type: "woocommerce"}})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	e.res.Iterations++
	held := e.log.holdWritesAfter(func(r request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/api/v1/namespaces")
	})
	e.declared["chaos-n-b"] = storeSpec{Type: "woocommerce"}
	rev = e.commit("a new store")
	d.hook(rev)
	<-held
	d.kill()
	e.log.release()
	ns, err := e.c.Client.CoreV1().Namespaces().Get(context.Background(), "store-chaos-n-b", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the namespace was not created before the kill: %v", err)
	}
	if ns.Annotations[reconcile.AnnotationOwner] != "" {
		t.Fatalf("the namespace was sealed before the kill: the fault did not happen")
	}
	d = e.start("a")
	e.waitConverged(d, rev)
	e.res.Converged++
	ns, err = e.c.Client.CoreV1().Namespaces().Get(context.Background(), "store-chaos-n-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Annotations[reconcile.AnnotationOwner] == "" || ns.Annotations[reconcile.AnnotationIntent] != "" {
		t.Errorf("the namespace is not sealed, or still carries its intent: %v", ns.Annotations)
	}
	key, err := e.c.Client.CoreV1().Secrets("default").Get(context.Background(), "storeops-instance-"+e.instance, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range key.Annotations {
		if strings.HasPrefix(k, "intent.") {
			t.Errorf("the instance key Secret still records an intent: %s", k)
		}
	}
}
