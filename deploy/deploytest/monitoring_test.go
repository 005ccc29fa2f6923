package deploytest

import (
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/metrics"
	"github.com/storeops/storeops/reconcile"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"
)

// renderRaw renders the chart like render, but decodes every manifest
// generically: the Prometheus Operator's kinds are not in client-go's
// scheme.
func renderRaw(t *testing.T, vals map[string]any) []map[string]any {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &action.Configuration{
		Releases: storage.Init(driver.NewMemory()), KubeClient: &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities, Log: func(string, ...any) {},
	}
	in := action.NewInstall(cfg)
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace, in.KubeVersion = "storeops", "storeops-system", kubeVersion
	rel, err := in.Run(ch, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var out []map[string]any
	for name, m := range releaseutil.SplitManifests(rel.Manifest) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(m), &obj); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, m)
		}
		out = append(out, obj)
	}
	return out
}

func byKind(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

// dig returns the value at path in a decoded object.
func dig(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := o.(map[string]any)
			o = m[k]
		case int:
			s, _ := o.([]any)
			if k >= len(s) {
				return nil
			}
			o = s[k]
		}
	}
	return o
}

// TestMonitoringOffByDefault: without the Prometheus Operator's CRDs an
// install must not fail, so the chart renders neither object by default.
func TestMonitoringOffByDefault(t *testing.T) {
	objs := renderRaw(t, minimal())
	if n := len(byKind(objs, "ServiceMonitor")) + len(byKind(objs, "PrometheusRule")); n != 0 {
		t.Fatalf("rendered %d monitoring objects by default", n)
	}
}

// TestMonitoringRendered: enabled, the ServiceMonitor selects the chart's
// Service and scrapes its http port, and every alert of the
// PrometheusRule is scoped to the release namespace and queries only
// metrics storeops exports.
func TestMonitoringRendered(t *testing.T) {
	vals := minimal()
	vals["monitoring"] = map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"prometheusRule": map[string]any{"enabled": true, "syncStaleAfterSeconds": 1800},
	}
	objs := renderRaw(t, vals)

	sms := byKind(objs, "ServiceMonitor")
	svcs := byKind(objs, "Service")
	if len(sms) != 1 || len(svcs) != 1 {
		t.Fatalf("%d ServiceMonitors, %d Services", len(sms), len(svcs))
	}
	sm, svc := sms[0], svcs[0]
	if dig(sm, "apiVersion") != "monitoring.coreos.com/v1" || dig(sm, "metadata", "labels", "release") != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor metadata: %v %v", dig(sm, "apiVersion"), dig(sm, "metadata"))
	}
	match, _ := dig(sm, "spec", "selector", "matchLabels").(map[string]any)
	labels, _ := dig(svc, "metadata", "labels").(map[string]any)
	if len(match) == 0 {
		t.Fatal("ServiceMonitor selects nothing")
	}
	for k, v := range match {
		if labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v; the Service has %v", k, v, labels[k])
		}
	}
	if dig(sm, "spec", "endpoints", 0, "port") != dig(svc, "spec", "ports", 0, "name") || dig(sm, "spec", "endpoints", 0, "path") != "/metrics" {
		t.Errorf("endpoint %v, Service ports %v", dig(sm, "spec", "endpoints"), dig(svc, "spec", "ports"))
	}
	if ns := dig(sm, "spec", "namespaceSelector", "matchNames", 0); ns != "storeops-system" {
		t.Errorf("namespaceSelector %v", ns)
	}

	rules := byKind(objs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules", len(rules))
	}
	exported := exportedMetrics(t)
	metricName := regexp.MustCompile(`storeops_[a-z_]+`)
	var alerts []string
	for _, r := range dig(rules[0], "spec", "groups", 0, "rules").([]any) {
		name, _ := dig(r, "alert").(string)
		expr, _ := dig(r, "expr").(string)
		alerts = append(alerts, name)
		if !strings.Contains(expr, `namespace="storeops-system"`) {
			t.Errorf("%s is not scoped to the release namespace: %s", name, expr)
		}
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s queries no storeops metric: %s", name, expr)
		}
		for _, m := range names {
			if !exported[m] {
				t.Errorf("%s queries %s, which storeops does not export", name, m)
			}
		}
		if strings.Contains(expr, "{{") || strings.Contains(expr, "{,") {
			t.Errorf("%s: malformed expression %s", name, expr)
		}
		summary, _ := dig(r, "annotations", "summary").(string)
		if summary == "" {
			t.Errorf("%s has no summary", name)
		}
	}
	// The alerts docs/api.md recommends, and the two the new metrics make
	// possible.
	for _, want := range []string{"StoreopsRevisionRefused", "StoreopsStoreFailed", "StoreopsGitFetchFailing",
		"StoreopsWebhookUnauthorized", "StoreopsNoSuccessfulSync", "StoreopsNoLeader"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s; have %v", want, alerts)
		}
	}
	stale := dig(rules[0], "spec", "groups", 0, "rules")
	if !strings.Contains(toYAML(t, stale), "> 1800") {
		t.Error("syncStaleAfterSeconds is not used")
	}
	if got := dig(rules[0], "spec", "groups", 0, "rules", 1, "annotations", "summary"); got != "store {{ $labels.store }} is {{ $labels.phase }}" {
		t.Errorf("alert templates must reach Prometheus unexpanded, got %q", got)
	}
}

// exportedMetrics lists the metric names storeops' registry gathers once
// every metric has a series (a sync, an action, a fetch, a webhook, a
// board).
func exportedMetrics(t *testing.T) map[string]bool {
	m := metrics.New()
	m.ObserveSync(time.Second, metrics.SyncOK)
	m.ObserveAction("install", "ok")
	m.ObserveFetch(time.Second, io.EOF)
	m.ObserveWebhook("github", "unauthorized")
	b := reconcile.NewBoard()
	b.Publish(&reconcile.Snapshot{Stores: []reconcile.StoreStatus{{Name: "a", Phase: reconcile.PhaseReady}}})
	m.WatchBoard(b)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
	}
	return out
}

func toYAML(t *testing.T, v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
