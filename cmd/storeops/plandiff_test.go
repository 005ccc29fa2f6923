package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/manifestdiff"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/plan")

// desiredStore renders the one store of a stores.yaml.
func desiredStore(t *testing.T, yaml string) *render.Desired {
	t.Helper()
	cfg, err := render.Parse("stores.yaml", []byte(yaml), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return &render.Render(cfg)[0]
}

// deployed is the cluster after desired d was applied: the namespace's
// objects as the observer sees them, the release's manifest, and its
// objects as the API server keeps them (server-side fields, Helm's
// annotations, status), which edit may change by hand.
func deployed(t *testing.T, d *render.Desired, edit func(map[manifestdiff.ID]manifestdiff.Object)) (*reconcile.ObservedStore, string, manifestdiff.LiveFunc) {
	t.Helper()
	rel, err := reconcile.RenderRelease(reconcile.EmbeddedCharts{}, d)
	if err != nil {
		t.Fatal(err)
	}
	ns := d.Namespace.DeepCopy()
	ns.UID, ns.ResourceVersion = "5a1c9e2e-0000-4000-8000-000000000001", "1234"
	ns.Labels["kubernetes.io/metadata.name"] = ns.Name
	ns.Labels["storeops.dev/phase"] = "Ready"
	ns.Annotations = map[string]string{"storeops.dev/ready-revision": "1"}
	ns.Status.Phase = corev1.NamespaceActive
	o := &reconcile.ObservedStore{Name: d.Store.Name, Namespace: ns, Quota: d.Quota.DeepCopy(), LimitRange: d.LimitRange.DeepCopy(),
		NetworkPolicy: d.NetworkPolicy.DeepCopy(), Credentials: true, Owned: true,
		Release: &reconcile.ReleaseInfo{Name: d.Release.Name, Revision: 1, Status: reconcile.StatusDeployed, Updated: time.Unix(0, 0)}}
	objs, err := manifestdiff.Parse(rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	live := map[manifestdiff.ID]manifestdiff.Object{}
	for _, obj := range objs {
		meta := obj["metadata"].(map[string]any)
		meta["namespace"] = ns.Name
		meta["uid"], meta["resourceVersion"], meta["creationTimestamp"] = "uid-"+meta["name"].(string), "42", "2026-01-01T00:00:00Z"
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann["meta.helm.sh/release-name"], ann["meta.helm.sh/release-namespace"] = d.Release.Name, ns.Name
		meta["annotations"] = ann
		obj["status"] = map[string]any{"observedGeneration": 1}
		live[manifestdiff.IDOf(obj, "")] = obj
	}
	if edit != nil {
		edit(live)
	}
	return o, rel.Manifest, func(id manifestdiff.ID) (manifestdiff.Object, bool, error) {
		obj, ok := live[id]
		return obj, ok, nil
	}
}

// find returns the live object of kind whose name ends with suffix.
func find(t *testing.T, live map[manifestdiff.ID]manifestdiff.Object, kind, suffix string) (manifestdiff.ID, manifestdiff.Object) {
	t.Helper()
	for id, obj := range live {
		if id.Kind == kind && strings.HasSuffix(id.Name, suffix) {
			return id, obj
		}
	}
	t.Fatalf("no %s *%s among %d objects", kind, suffix, len(live))
	return manifestdiff.ID{}, nil
}

const acme = `stores:
  - name: acme
    type: woocommerce
    admin: {email: owner@acme.example}
`

// TestPlanDiffGolden: the diff of an installation, a change of values, a
// chart upgrade and objects changed or deleted by hand, against golden
// files (go test ./cmd/storeops -run TestPlanDiffGolden -update rewrites
// them). Each is made twice and must come out the same.
func TestPlanDiffGolden(t *testing.T) {
	type tc struct {
		kind reconcile.ActionKind
		d    *render.Desired
		o    *reconcile.ObservedStore
		prev string
		live manifestdiff.LiveFunc
	}
	cases := map[string]func(t *testing.T) tc{
		"install": func(t *testing.T) tc {
			return tc{kind: reconcile.ActInstall, d: desiredStore(t, acme)}
		},
		"values": func(t *testing.T) tc {
			o, prev, live := deployed(t, desiredStore(t, acme), nil)
			d := desiredStore(t, strings.Replace(acme, "admin:", "plan: medium\n    options: {title: Acme Shop, paymentMethods: [cod, bacs]}\n    admin:", 1))
			return tc{kind: reconcile.ActUpgrade, d: d, o: o, prev: prev, live: live}
		},
		"chart-upgrade": func(t *testing.T) tc {
			// The deployed release is an older chart's: another image, and
			// a ConfigMap the embedded chart no longer has.
			d := desiredStore(t, acme)
			o, prev, live := deployed(t, d, func(live map[manifestdiff.ID]manifestdiff.Object) {
				_, dep := find(t, live, "Deployment", "wordpress")
				c := dep["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				c["image"] = "wordpress:6.5-php8.2-apache"
				old := manifestdiff.Object{"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": "acme-legacy", "namespace": "store-acme", "uid": "u"},
					"data":     map[string]any{"php.ini": "memory_limit = 256M\n"}}
				live[manifestdiff.IDOf(old, "")] = old
			})
			prev = strings.Replace(prev, mustImage(t, d), "wordpress:6.5-php8.2-apache", 1) +
				"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: acme-legacy\ndata:\n  php.ini: |\n    memory_limit = 256M\n"
			o.Release.ChartVersion = "0.0.9"
			return tc{kind: reconcile.ActUpgrade, d: d, o: o, prev: prev, live: live}
		},
		"hand-edits": func(t *testing.T) tc {
			d := desiredStore(t, acme)
			o, prev, live := deployed(t, d, func(live map[manifestdiff.ID]manifestdiff.Object) {
				_, dep := find(t, live, "Deployment", "wordpress")
				dep["spec"].(map[string]any)["replicas"] = int64(0)
				id, _ := find(t, live, "Service", "wordpress")
				delete(live, id)
			})
			// And a label of the namespace and the quota changed by hand.
			o.Namespace.Labels[render.LabelPlan] = "large"
			o.Quota.Spec.Hard[corev1.ResourcePods] = o.Quota.Spec.Hard[corev1.ResourceLimitsCPU]
			return tc{kind: reconcile.ActUpgrade, d: d, o: o, prev: prev, live: live}
		},
		"repair-credentials": func(t *testing.T) tc {
			d := desiredStore(t, acme)
			o, prev, live := deployed(t, d, nil)
			o.Credentials = false
			o.NetworkPolicy = nil
			return tc{kind: reconcile.ActRepair, d: d, o: o, prev: prev, live: live}
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			c := mk(t)
			got, err := storeDiff(c.kind, c.d, c.o, c.prev, c.live)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := storeDiff(c.kind, c.d, c.o, c.prev, c.live)
			if again != got {
				t.Fatal("two runs made different diffs")
			}
			golden(t, filepath.Join("testdata", "plan", name+".diff"), got)
		})
	}
}

func mustImage(t *testing.T, d *render.Desired) string {
	t.Helper()
	rel, err := reconcile.RenderRelease(reconcile.EmbeddedCharts{}, d)
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := manifestdiff.Parse(rel.Manifest)
	for _, obj := range objs {
		if obj["kind"] == "Deployment" && strings.HasSuffix(obj["metadata"].(map[string]any)["name"].(string), "wordpress") {
			return obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"].(string)
		}
	}
	t.Fatal("no wordpress Deployment")
	return ""
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to rewrite it):\n%s", path, manifestdiff.Unified(path, "got", string(want), got))
	}
}

// TestPlanTextGolden: the text output of plan, summary lines with each
// change's diff after it.
func TestPlanTextGolden(t *testing.T) {
	d := desiredStore(t, acme)
	o, prev, live := deployed(t, d, func(live map[manifestdiff.ID]manifestdiff.Object) {
		_, dep := find(t, live, "Deployment", "wordpress")
		dep["spec"].(map[string]any)["replicas"] = int64(3)
	})
	diff, err := storeDiff(reconcile.ActUpgrade, d, o, prev, live)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printPlan(&out, planJSON{Revision: "5dd6d03458f0c8b5e0d3c5b1d0b9f7e1c2a3b4c5", Actions: []actionJSON{
		{Kind: reconcile.ActUpgrade, Store: "acme", Reason: "release objects changed by hand: Deployment/acme-wordpress replicas", Diff: diff},
		{Kind: reconcile.ActDelete, Store: "bolt", Reason: "store is no longer declared in stores.yaml"},
	}})
	golden(t, filepath.Join("testdata", "plan", "text.txt"), out.String())
}

// TestPlanDiffNeverShowsSecretValues: Secret values in a chart's manifest
// or in the cluster appear only masked.
func TestPlanDiffNeverShowsSecretValues(t *testing.T) {
	live := manifestdiff.Object{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s", "namespace": "n"},
		"data": map[string]any{"same": "c2FtZQ==", "old": "b2xkLXNlY3JldA==", "gone": "Z29uZS1zZWNyZXQ="}}
	want := manifestdiff.Object{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"},
		"data": map[string]any{"same": "c2FtZQ==", "old": "bmV3LXNlY3JldA==", "new": "YWRkZWQtc2VjcmV0"}}
	changes, err := manifestdiff.Changes("n", []manifestdiff.Object{want}, nil, func(manifestdiff.ID) (manifestdiff.Object, bool, error) { return live, true, nil })
	if err != nil {
		t.Fatal(err)
	}
	got, err := manifestdiff.Diff(changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"c2FtZQ", "b2xk", "bmV3", "YWRk", "Z29uZ"} {
		if strings.Contains(got, secret) {
			t.Errorf("diff shows %s:\n%s", secret, got)
		}
	}
	for _, line := range []string{"-  old: '*** (before)'", "+  old: '*** (after)'", "+  new: '***'"} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("diff lacks %q:\n%s", line, got)
		}
	}
}
