package reconcile

import (
	"testing"
	"time"

	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// A store whose last action failed is Failed until the plan has nothing
// left to do for it: a Helm operation given up at its timeout that Helm
// finished in the background leaves a Ready store, not a Failed one.
func TestPhaseOfASettledStoreAfterAFailure(t *testing.T) {
	cfg, err := render.Parse("stores.yaml", []byte("stores:\n  - {name: st-a, type: woocommerce}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := render.Render(cfg)[0]
	now := time.Now()
	r := &Reconciler{lastAction: map[string]*ActionLog{"st-a": {Store: "st-a", Kind: ActInstall, Error: "helm install st-a: context deadline exceeded"}},
		retries: map[string]Retry{"st-a": {Failures: 1, NotBefore: now.Add(10 * time.Second)}}}
	o := &ObservedStore{Name: "st-a", Namespace: d.Namespace.DeepCopy(), Quota: d.Quota.DeepCopy(), LimitRange: d.LimitRange.DeepCopy(),
		NetworkPolicy: d.NetworkPolicy.DeepCopy(), Credentials: true,
		Release:   &ReleaseInfo{Name: "st-a", Revision: 1, Status: StatusDeployed, ValuesChecksum: d.Release.Checksum},
		Workloads: []Workload{{Kind: "Deployment", Name: "st-a-wordpress", Ready: true}}}
	if phase, msg := r.phase(&d, o, true, now); phase != PhaseReady {
		t.Errorf("settled after a failed install: %s %q, want Ready", phase, msg)
	}
	for what, change := range map[string]func(o *ObservedStore) bool{
		"a workload not ready": func(o *ObservedStore) bool { o.Workloads[0].Ready = false; return true },
		"values out of date":   func(o *ObservedStore) bool { return false },
		"quota drifted": func(o *ObservedStore) bool {
			o.Quota.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1")
			return true
		},
		"an object deleted by hand": func(o *ObservedStore) bool { o.Missing = []string{"Service/st-a"}; return true },
	} {
		c := *o
		c.Workloads = append([]Workload(nil), o.Workloads...)
		c.Quota = o.Quota.DeepCopy()
		released := change(&c)
		if phase, _ := r.phase(&d, &c, released, now); phase != PhaseFailed {
			t.Errorf("%s after a failed install: %s, want Failed", what, phase)
		}
	}
}
