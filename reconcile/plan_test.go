package reconcile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func desiredOf(t *testing.T, yaml string) []render.Desired {
	t.Helper()
	cfg, err := render.Parse("stores.yaml", []byte(yaml), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return render.Render(cfg)
}

// converged returns what the cluster holds once d is fully applied.
func converged(d render.Desired) *reconcile.ObservedStore {
	ns := d.Namespace.DeepCopy()
	ns.Labels["kubernetes.io/metadata.name"] = ns.Name
	return &reconcile.ObservedStore{
		Name:          d.Store.Name,
		Namespace:     ns,
		Quota:         d.Quota.DeepCopy(),
		LimitRange:    d.LimitRange.DeepCopy(),
		NetworkPolicy: d.NetworkPolicy.DeepCopy(),
		Credentials:   true,
		Release: &reconcile.ReleaseInfo{
			Name: d.Store.Name, Revision: 1, Status: reconcile.StatusDeployed,
			ChartName: string(d.Store.Type), ChartVersion: "1.0.0",
			ValuesChecksum: d.Release.Checksum, Values: d.Release.Values,
			Updated: now.Add(-time.Hour), HasDeployedRevision: true,
		},
		Workloads: []reconcile.Workload{{Kind: "Deployment", Name: "web", Ready: true}},
		Owned:     true, ReadyRevision: 1, DataSince: now.Add(-time.Hour), Volumes: 1, BoundVolumes: 1,
	}
}

// neverReady makes o a store that never became Ready and never held data.
func neverReady(o *reconcile.ObservedStore) {
	o.ReadyRevision, o.DataSince, o.BoundVolumes = 0, time.Time{}, 0
	o.Workloads[0].Ready = false
}

func policy() reconcile.Policy {
	p := reconcile.DefaultPolicy()
	p.Now = now
	p.ChartVersions = map[render.Type]string{render.WooCommerce: "1.0.0", render.Medusa: "1.0.0"}
	return p
}

const three = `stores:
  - {name: a, type: woocommerce}
  - {name: b, type: medusa}
  - {name: c, type: woocommerce}
`

func observedAll(ds []render.Desired) reconcile.Observed {
	o := reconcile.Observed{Stores: map[string]*reconcile.ObservedStore{}}
	for _, d := range ds {
		o.Stores[d.Store.Name] = converged(d)
	}
	return o
}

type kindStore struct{ Kind, Store string }

func summary(actions []reconcile.Action) []kindStore {
	var out []kindStore
	for _, a := range actions {
		out = append(out, kindStore{string(a.Kind), a.Store})
	}
	return out
}

func TestPlan(t *testing.T) {
	ds := desiredOf(t, three)
	tests := []struct {
		name     string
		desired  string
		observed func(o reconcile.Observed)
		policy   func(p *reconcile.Policy)
		want     []kindStore
		reason   string // substring of the first action's reason
		diff     string // substring of the first action's diff
	}{
		{name: "nothing to do", observed: func(reconcile.Observed) {}},
		{name: "new store", observed: func(o reconcile.Observed) { delete(o.Stores, "b") },
			want: []kindStore{{"install", "b"}}, reason: "store is new"},
		{name: "namespace without release", observed: func(o reconcile.Observed) { o.Stores["a"].Release = nil },
			want: []kindStore{{"install", "a"}}, reason: "release is missing"},
		{name: "values changed", desired: strings.Replace(three, "{name: a, type: woocommerce}", "{name: a, type: woocommerce, options: {title: New}}", 1),
			want: []kindStore{{"upgrade", "a"}}, reason: "values changed", diff: "-  title: a\n+  title: New\n"},
		{name: "chart version changed", policy: func(p *reconcile.Policy) { p.ChartVersions[render.Medusa] = "1.1.0" },
			want: []kindStore{{"upgrade", "b"}}, reason: "1.0.0 is deployed, 1.1.0 is embedded"},
		{name: "object deleted by hand", observed: func(o reconcile.Observed) { o.Stores["c"].Missing = []string{"Deployment/c-wordpress"} },
			want: []kindStore{{"upgrade", "c"}}, reason: "deleted by hand: Deployment/c-wordpress"},
		{name: "object changed by hand", observed: func(o reconcile.Observed) { o.Stores["c"].Drifted = []string{"Deployment/c-wordpress replicas"} },
			want: []kindStore{{"upgrade", "c"}}, reason: "changed by hand"},
		{name: "quota drifted", observed: func(o reconcile.Observed) {
			o.Stores["a"].Quota.Spec.Hard[corev1.ResourcePods] = resource.MustParse("99")
		}, want: []kindStore{{"repair", "a"}}, reason: "isolation drifted", diff: "ResourceQuota"},
		{name: "quota equal in another spelling", observed: func(o reconcile.Observed) {
			o.Stores["a"].Quota.Spec.Hard[corev1.ResourceRequestsMemory] = resource.MustParse("4096Mi")
		}},
		{name: "limit range deleted", observed: func(o reconcile.Observed) { o.Stores["a"].LimitRange = nil },
			want: []kindStore{{"repair", "a"}}, diff: "LimitRange storeops-limits: missing"},
		{name: "network policy deleted", observed: func(o reconcile.Observed) { o.Stores["b"].NetworkPolicy = nil },
			want: []kindStore{{"repair", "b"}}, diff: "NetworkPolicy storeops-default-deny: missing"},
		{name: "namespace label removed", observed: func(o reconcile.Observed) {
			delete(o.Stores["b"].Namespace.Labels, "pod-security.kubernetes.io/enforce")
		}, want: []kindStore{{"repair", "b"}}, diff: "pod-security.kubernetes.io/enforce"},
		{name: "credentials secret deleted while the release exists", observed: func(o reconcile.Observed) { o.Stores["a"].Credentials = false },
			want: []kindStore{{"block", "a"}}, reason: "restore the Secret"},
		{name: "credentials secret deleted while only volumes exist", observed: func(o reconcile.Observed) {
			o.Stores["a"].Credentials, o.Stores["a"].Release = false, nil
		}, want: []kindStore{{"block", "a"}}, reason: "would not open the existing data"},
		{name: "credentials secret missing from an empty namespace", observed: func(o reconcile.Observed) {
			s := o.Stores["a"]
			s.Credentials, s.Release, s.Volumes, s.BoundVolumes = false, nil, 0, 0
		}, want: []kindStore{{"install", "a"}}, reason: "release is missing"},
		{name: "type changed in stores.yaml", desired: strings.Replace(three, "{name: a, type: woocommerce}", "{name: a, type: medusa}", 1),
			want: []kindStore{{"block", "a"}}, reason: "would destroy its data"},
		{name: "namespace not created by this instance", observed: func(o reconcile.Observed) { o.Stores["b"].Owned = false },
			want: []kindStore{{"block", "b"}}, reason: "will not adopt"},
		{name: "undeclared namespace not created by this instance is not deleted", desired: "stores:\n  - {name: a, type: woocommerce}\n  - {name: b, type: medusa}\n",
			observed: func(o reconcile.Observed) { o.Stores["c"].Owned = false }},
		{name: "extra namespace labels are fine", observed: func(o reconcile.Observed) { o.Stores["a"].Namespace.Labels["team"] = "x" }},
		{name: "store removed from file", desired: "stores:\n  - {name: a, type: woocommerce}\n  - {name: b, type: medusa}\n",
			want: []kindStore{{"delete", "c"}}, reason: "no longer declared"},
		{name: "stuck pending install", observed: func(o reconcile.Observed) {
			r := o.Stores["a"].Release
			r.Status, r.Updated, r.HasDeployedRevision = reconcile.StatusPendingInstall, now.Add(-time.Hour), false
		}, want: []kindStore{{"unlock", "a"}}, reason: "pending-install for 1h0m0s"},
		{name: "recent pending upgrade is left alone", observed: func(o reconcile.Observed) {
			r := o.Stores["a"].Release
			r.Status, r.Updated = reconcile.StatusPendingUpgrade, now.Add(-time.Minute)
		}},
		{name: "pending left by this instance is unlocked at once", observed: func(o reconcile.Observed) {
			r := o.Stores["a"].Release
			r.Status, r.Updated, r.Instance = reconcile.StatusPendingInstall, now.Add(-time.Second), "storeops"
		}, policy: func(p *reconcile.Policy) { p.Instance = "storeops" },
			want: []kindStore{{"unlock", "a"}}, reason: "a run of this instance that ended"},
		{name: "recent pending of another client is left alone", observed: func(o reconcile.Observed) {
			r := o.Stores["a"].Release
			r.Status, r.Updated, r.Instance = reconcile.StatusPendingUpgrade, now.Add(-time.Second), ""
		}, policy: func(p *reconcile.Policy) { p.Instance = "storeops" }},
		{name: "failed install that held data is upgraded in place", observed: func(o reconcile.Observed) {
			r := o.Stores["b"].Release
			r.Status, r.HasDeployedRevision = reconcile.StatusFailed, false
		}, want: []kindStore{{"upgrade", "b"}}, reason: "never reinstall"},
		{name: "failed install that never held data", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["b"])
			r := o.Stores["b"].Release
			r.Status, r.HasDeployedRevision = reconcile.StatusFailed, false
		}, want: []kindStore{{"reinstall", "b"}}, reason: "installation failed"},
		{name: "failed upgrade", observed: func(o reconcile.Observed) {
			r := o.Stores["b"].Release
			r.Status, r.Revision = reconcile.StatusFailed, 3
		}, want: []kindStore{{"rollback", "b"}}, reason: "upgrade to revision 3 failed"},
		{name: "failed store backing off", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["b"])
			o.Stores["b"].Release.Status, o.Stores["b"].Release.HasDeployedRevision = reconcile.StatusFailed, false
		}, policy: func(p *reconcile.Policy) {
			p.Retries = map[string]reconcile.Retry{"b": {Failures: 2, NotBefore: now.Add(time.Minute)}}
		}},
		{name: "backoff over", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["b"])
			o.Stores["b"].Release.Status, o.Stores["b"].Release.HasDeployedRevision = reconcile.StatusFailed, false
		}, policy: func(p *reconcile.Policy) {
			p.Retries = map[string]reconcile.Retry{"b": {Failures: 2, NotBefore: now.Add(-time.Second)}}
		}, want: []kindStore{{"reinstall", "b"}}},
		// A store that served and is unready now (a drain, a database pod
		// restarting) long after its install is Degraded: never touched.
		{name: "ready store unready long after its install", observed: func(o reconcile.Observed) {
			o.Stores["c"].Workloads[0].Ready = false
		}},
		{name: "ready store unready long after an upgrade it survived", observed: func(o reconcile.Observed) {
			o.Stores["c"].Workloads[0].Ready = false
			o.Stores["c"].Release.Revision, o.Stores["c"].ReadyRevision = 4, 4
		}},
		{name: "install never ready and never held data", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["c"])
		}, want: []kindStore{{"reinstall", "c"}}, reason: "revision 1 never became Ready in 20m0s"},
		{name: "install never ready but its volumes are bound", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["c"])
			o.Stores["c"].BoundVolumes = 2
		}, want: []kindStore{{"block", "c"}}, reason: "2 bound volumes"},
		{name: "install never ready but its database was", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["c"])
			o.Stores["c"].DataSince = now.Add(-20 * time.Minute)
		}, want: []kindStore{{"block", "c"}}, reason: "its database was Ready"},
		{name: "upgrade never ready after the timeout", observed: func(o reconcile.Observed) {
			o.Stores["c"].Workloads[0].Ready = false
			o.Stores["c"].Release.Revision, o.Stores["c"].ReadyRevision = 4, 3
		}, want: []kindStore{{"rollback", "c"}}, reason: "revision 4 never became Ready"},
		{name: "not ready but within timeout", observed: func(o reconcile.Observed) {
			neverReady(o.Stores["c"])
			o.Stores["c"].Release.Updated = now.Add(-time.Minute)
		}},
		{name: "stalled store is left alone while nothing changes", desired: strings.Replace(three, "{name: a, type: woocommerce}", "{name: a, type: woocommerce, options: {title: New}}", 1),
			policy: func(p *reconcile.Policy) {
				d := desiredOf(t, strings.Replace(three, "{name: a, type: woocommerce}", "{name: a, type: woocommerce, options: {title: New}}", 1))[0]
				p.Stalled = map[string]string{"a": reconcile.StallKey(&d, converged(ds[0]))}
			}},
		{name: "stalled store is acted on once its desired state changes", desired: strings.Replace(three, "{name: a, type: woocommerce}", "{name: a, type: woocommerce, options: {title: Newer}}", 1),
			policy: func(p *reconcile.Policy) {
				d := desiredOf(t, strings.Replace(three, "{name: a, type: woocommerce}", "{name: a, type: woocommerce, options: {title: New}}", 1))[0]
				p.Stalled = map[string]string{"a": reconcile.StallKey(&d, converged(ds[0]))}
			}, want: []kindStore{{"upgrade", "a"}}, reason: "values changed"},
		{name: "suspended store is skipped", desired: strings.Replace(three, "{name: b, type: medusa}", "{name: b, type: medusa, suspend: true, plan: large}", 1)},
		{name: "suspended new store is not created", desired: strings.Replace(three, "{name: b, type: medusa}", "{name: b, type: medusa, suspend: true}", 1),
			observed: func(o reconcile.Observed) { delete(o.Stores, "b") }},
		{name: "terminating namespace is waited for", observed: func(o reconcile.Observed) {
			o.Stores["a"].Namespace.DeletionTimestamp = &metav1.Time{Time: now}
			o.Stores["a"].Release = nil
		}},
		{name: "several actions sorted by store", observed: func(o reconcile.Observed) {
			delete(o.Stores, "c")
			o.Stores["a"].LimitRange = nil
			o.Stores["zz"] = converged(desiredOf(t, "stores:\n  - {name: zz, type: medusa}\n")[0])
		}, want: []kindStore{{"repair", "a"}, {"install", "c"}, {"delete", "zz"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := ds
			if tt.desired != "" {
				desired = desiredOf(t, tt.desired)
			}
			observed := observedAll(ds)
			if tt.observed != nil {
				tt.observed(observed)
			}
			p := policy()
			if tt.policy != nil {
				tt.policy(&p)
			}
			actions, err := reconcile.Plan(desired, observed, p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summary(actions)); diff != "" {
				t.Fatalf("actions (-want +got):\n%s\n%v", diff, actions)
			}
			if len(actions) > 0 {
				if !strings.Contains(actions[0].Reason, tt.reason) {
					t.Errorf("reason %q does not contain %q", actions[0].Reason, tt.reason)
				}
				if !strings.Contains(actions[0].Diff, tt.diff) {
					t.Errorf("diff %q does not contain %q", actions[0].Diff, tt.diff)
				}
			}
		})
	}
}

func TestPlanMassDeletionGuard(t *testing.T) {
	ds := desiredOf(t, three)
	observed := observedAll(ds)

	// An emptied file would delete all three stores: refused, no action.
	actions, err := reconcile.Plan(nil, observed, policy())
	var guard *reconcile.MassDeletionError
	if !errors.As(err, &guard) || len(actions) != 0 {
		t.Fatalf("want refusal, got %v, %v", actions, err)
	}
	if guard.Deletes != 3 || guard.Managed != 3 || guard.Allowed != 1 || !strings.Contains(err.Error(), "a, b, c") {
		t.Errorf("guard %+v: %v", guard, err)
	}

	// Deleting one store is always allowed.
	if actions, err := reconcile.Plan(ds[:2], observed, policy()); err != nil || len(actions) != 1 {
		t.Errorf("one delete: %v, %v", actions, err)
	}

	// Confirmed, the whole plan goes through.
	p := policy()
	p.ConfirmDeletions = true
	actions, err = reconcile.Plan(nil, observed, p)
	if err != nil || len(actions) != 3 {
		t.Fatalf("confirmed: %v, %v", actions, err)
	}

	// Stores already terminating do not count.
	observed.Stores["a"].Namespace.DeletionTimestamp = &metav1.Time{Time: now}
	observed.Stores["b"].Namespace.DeletionTimestamp = &metav1.Time{Time: now}
	if actions, err := reconcile.Plan(nil, observed, policy()); err != nil || len(actions) != 1 {
		t.Errorf("terminating ones: %v, %v", actions, err)
	}
}
