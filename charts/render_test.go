package charts_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"

	"github.com/storeops/storeops/charts"
	storeopsrender "github.com/storeops/storeops/render"
)

// storeValues are the values storeops passes for a store named name.
func storeValues(name string) map[string]any {
	domain := name + ".stores.localhost"
	return map[string]any{
		"store": map[string]any{
			"name":       name,
			"title":      "Shop " + name,
			"domain":     domain,
			"adminEmail": "admin@" + domain,
			"sampleData": true,
		},
		"existingSecret": name + "-credentials",
		"ingress": map[string]any{
			"className":     "nginx",
			"tlsSecretName": "",
		},
		"persistence": map[string]any{
			"storageClass": "",
		},
	}
}

// prodValues reads a chart's values-prod.yaml.
func prodValues(t testing.TB, storeType string) map[string]any {
	t.Helper()
	vals, err := chartutil.ReadValuesFile(filepath.Join(storeType, "values-prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return vals.AsMap()
}

// merge returns a deep merge of the maps, later ones winning.
func merge(maps ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range maps {
		out = chartutil.MergeTables(deepCopy(m), out)
	}
	return out
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// newConfig returns an action configuration that keeps releases in memory
// and talks to no cluster.
func newConfig(t testing.TB, namespace string) *action.Configuration {
	t.Helper()
	mem := driver.NewMemory()
	mem.SetNamespace(namespace)
	return &action.Configuration{
		Releases:     storage.Init(mem),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: capabilities(),
		Log:          func(string, ...any) {},
	}
}

// capabilities describes the Kubernetes version the charts are rendered for
// (the local control plane's).
func capabilities() *chartutil.Capabilities {
	c := *chartutil.DefaultCapabilities
	c.KubeVersion = chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	return &c
}

// render renders the chart of storeType for a store with the values, the way
// storeops installs it (release name = store name, namespace store-<name>),
// and returns the release.
func render(t testing.TB, storeType, name string, vals map[string]any) *release.Release {
	t.Helper()
	chrt, err := charts.Load(storeType)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(newConfig(t, "store-"+name))
	install.ReleaseName = name
	install.Namespace = "store-" + name
	install.DryRun = true
	install.ClientOnly = true
	install.KubeVersion = &capabilities().KubeVersion
	rel, err := install.Run(chrt, vals)
	if err != nil {
		t.Fatalf("render %s: %v", storeType, err)
	}
	return rel
}

// manifests returns the release's manifests, hooks included, in a stable order.
func manifests(rel *release.Release) string {
	var b strings.Builder
	b.WriteString(rel.Manifest)
	hooks := append([]*release.Hook(nil), rel.Hooks...)
	sort.Slice(hooks, func(i, j int) bool { return hooks[i].Path+hooks[i].Name < hooks[j].Path+hooks[j].Name })
	for _, h := range hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
	return b.String()
}

// object is a decoded manifest.
type object = map[string]any

// objects decodes every manifest of the release, hooks included.
func objects(t testing.TB, rel *release.Release) []object {
	t.Helper()
	var out []object
	for _, doc := range strings.Split(manifests(rel), "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("decode manifest: %v\n%s", err, doc)
		}
		if len(o) > 0 {
			out = append(out, o)
		}
	}
	return out
}

func TestLoad(t *testing.T) {
	for _, typ := range charts.Types() {
		c, err := charts.Load(typ)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name() != typ || c.Metadata.Version == "" || c.Metadata.AppVersion == "" {
			t.Errorf("%s: chart metadata %+v", typ, c.Metadata)
		}
		if c.Schema == nil {
			t.Errorf("%s: no values.schema.json", typ)
		}
		for _, f := range c.Templates {
			if strings.Contains(f.Name, "Dockerfile") {
				t.Errorf("%s: image build file %s packaged into the chart", typ, f.Name)
			}
		}
	}
	if _, err := charts.Load("shopify"); err == nil {
		t.Error("Load(shopify) succeeded")
	}
}

func TestLint(t *testing.T) {
	for _, typ := range charts.Types() {
		for _, variant := range []string{"default", "prod"} {
			t.Run(typ+"/"+variant, func(t *testing.T) {
				vals := map[string]any{}
				if variant == "prod" {
					vals = prodValues(t, typ)
				}
				lint := action.NewLint()
				lint.Strict = true
				lint.Namespace = "store-shop"
				res := lint.Run([]string{typ}, vals)
				for _, m := range res.Messages {
					t.Errorf("lint: %s", m)
				}
				for _, err := range res.Errors {
					t.Errorf("lint error: %v", err)
				}
			})
		}
	}
}

func TestGolden(t *testing.T) {
	for _, typ := range charts.Types() {
		t.Run(typ, func(t *testing.T) {
			got := manifests(render(t, typ, "shop", storeValues("shop")))
			golden := filepath.Join("testdata", typ+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./charts -update)", err)
			}
			if !bytes.Equal(want, []byte(got)) {
				t.Errorf("%s differs from the rendered manifests; run go test ./charts -update and review the diff", golden)
			}
		})
	}
}

func TestRequiresExistingSecret(t *testing.T) {
	for _, typ := range charts.Types() {
		chrt, err := charts.Load(typ)
		if err != nil {
			t.Fatal(err)
		}
		install := action.NewInstall(newConfig(t, "store-x"))
		install.ReleaseName, install.Namespace = "x", "store-x"
		install.DryRun, install.ClientOnly = true, true
		install.KubeVersion = &capabilities().KubeVersion
		vals := storeValues("x")
		vals["existingSecret"] = ""
		if _, err := install.Run(chrt, vals); err == nil {
			t.Errorf("%s: rendered without existingSecret", typ)
		}
	}
}

// TestStoreopsValues renders each chart with the values storeops computes
// for every store of the example and of render's full fixture (plans,
// production values of the large plan, TLS, cert-manager, WooCommerce
// options): the charts' schemas accept them and the options arrive.
func TestStoreopsValues(t *testing.T) {
	for _, path := range []string{"../stores.example.yaml", "../render/testdata/valid/full.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := storeopsrender.Parse(filepath.Base(path), data, storeopsrender.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range storeopsrender.Render(cfg) {
			t.Run(d.Store.Name, func(t *testing.T) {
				out := manifests(render(t, d.Release.Chart, d.Release.Name, d.Release.Values))
				if d.Store.Type == storeopsrender.WooCommerce {
					for _, want := range []string{
						fmt.Sprintf("value: %q", strings.Join(d.Store.Options.PaymentMethods, ",")),
						fmt.Sprintf("value: %q", d.Store.Options.FlatRate),
					} {
						if !strings.Contains(out, want) {
							t.Errorf("manifests lack %s", want)
						}
					}
				}
				if d.Store.Options.TLSSecret != "" && !strings.Contains(out, "https://"+d.Store.Domain) {
					t.Errorf("TLS store without https URL")
				}
				if d.Store.Plan == storeopsrender.PlanLarge && d.Store.Type == storeopsrender.Medusa && !strings.Contains(out, "replicas: 2") {
					t.Errorf("large Medusa store without the production replicas")
				}
			})
		}
	}
}
