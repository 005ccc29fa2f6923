package render_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// TestRenderGolden renders the desired state of every store of the example
// and of the full fixture and compares it with golden files.
func TestRenderGolden(t *testing.T) {
	for _, path := range []string{"../stores.example.yaml", "testdata/valid/full.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := render.Parse(filepath.Base(path), data, render.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range render.Render(cfg) {
			t.Run(d.Store.Name, func(t *testing.T) {
				out, err := yaml.Marshal(d)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", "desired", d.Store.Name+".golden.yaml"), out)
			})
		}
	}
}

func TestChecksumStable(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: a, type: medusa}\n  - {name: b, type: medusa}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ds := render.Render(cfg)
	for i := 0; i < 20; i++ { // map iteration order differs from run to run
		if got := render.Checksum(render.Values(cfg.Defaults(), ds[0].Store)); got != ds[0].Release.Checksum {
			t.Fatalf("checksum changed: %s vs %s", got, ds[0].Release.Checksum)
		}
	}
	if ds[0].Release.Checksum == ds[1].Release.Checksum {
		t.Error("different stores, same checksum")
	}
}

func TestRenderedObjectsCarryStoreLabels(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: a, type: woocommerce}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := render.Render(cfg)[0]
	for _, labels := range []map[string]string{d.Namespace.Labels, d.Quota.Labels, d.LimitRange.Labels, d.NetworkPolicy.Labels} {
		if labels[render.LabelManagedBy] != render.ManagedBy || labels[render.LabelStore] != "a" {
			t.Errorf("labels %v", labels)
		}
	}
	if d.Namespace.Name != "store-a" || d.Quota.Namespace != "store-a" || d.Release.Namespace != "store-a" {
		t.Errorf("namespaces: %s %s %s", d.Namespace.Name, d.Quota.Namespace, d.Release.Namespace)
	}
}

// TestNetworkPolicyEgress checks what a store's pods may reach: their own
// namespace, DNS and public addresses, never the cluster's private ranges
// (pods, services, the API server's service and nodes), loopback or the
// cloud metadata address.
func TestNetworkPolicyEgress(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: a, type: woocommerce}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	np := render.Render(cfg)[0].NetworkPolicy
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Fatalf("policy types %v: egress is not restricted", np.Spec.PolicyTypes)
	}
	// allowed reports whether some egress rule admits ip:port (TCP) to a
	// peer outside the namespace.
	allowed := func(ip string, port int32, proto corev1.Protocol) bool {
		addr := netip.MustParseAddr(ip)
		for _, r := range np.Spec.Egress {
			portOK := len(r.Ports) == 0
			for _, p := range r.Ports {
				if p.Port != nil && p.Port.IntVal == port && (p.Protocol == nil || *p.Protocol == proto) {
					portOK = true
				}
			}
			if !portOK {
				continue
			}
			for _, peer := range r.To {
				if peer.IPBlock == nil {
					continue
				}
				if !netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(addr) {
					continue
				}
				excluded := false
				for _, e := range peer.IPBlock.Except {
					if netip.MustParsePrefix(e).Contains(addr) {
						excluded = true
					}
				}
				if !excluded {
					return true
				}
			}
		}
		return false
	}
	for _, ip := range []string{"169.254.169.254", "10.96.0.1", "10.0.0.10", "172.17.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.1", "fd00::1", "fe80::1"} {
		for _, port := range []int32{443, 6443, 80, 53} {
			if allowed(ip, port, corev1.ProtocolTCP) {
				t.Errorf("egress to %s:%d allowed", ip, port)
			}
		}
	}
	for _, ip := range []string{"8.8.8.8", "198.51.100.7", "2606:4700::1111"} {
		if !allowed(ip, 443, corev1.ProtocolTCP) {
			t.Errorf("egress to %s:443 (the internet) refused", ip)
		}
	}
	var ownNamespace, dns bool
	for _, r := range np.Spec.Egress {
		for _, peer := range r.To {
			if peer.PodSelector != nil && peer.NamespaceSelector == nil && len(peer.PodSelector.MatchLabels) == 0 && len(r.Ports) == 0 {
				ownNamespace = true
			}
			if peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "kube-system" {
				for _, p := range r.Ports {
					if p.Port.IntVal == 53 && *p.Protocol == corev1.ProtocolUDP {
						dns = true
					}
				}
			}
		}
	}
	if !ownNamespace || !dns {
		t.Errorf("own namespace %v, DNS %v", ownNamespace, dns)
	}
}

// TestLargePlanGetsProductionValues checks that a large store's release
// carries its chart's values-prod.yaml under its own settings.
func TestLargePlanGetsProductionValues(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("defaults: {clusterIssuer: le}\nstores:\n  - {name: a, type: medusa, plan: large}\n  - {name: b, type: medusa, plan: small, options: {tlsSecret: own}}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ds := render.Render(cfg)
	large, small := ds[0].Release.Values, ds[1].Release.Values
	server, _ := large["server"].(map[string]any)
	if server["replicas"] != float64(2) && server["replicas"] != 2 {
		t.Errorf("large: server %v, want the production replicas", server)
	}
	if _, ok := small["server"]; ok {
		t.Errorf("small store got production values: %v", small["server"])
	}
	ing := large["ingress"].(map[string]any)
	if ing["className"] != render.DefaultIngressClass || ing["tlsSecretName"] != "a-tls" {
		t.Errorf("large: ingress %v: the store's settings must win over values-prod.yaml", ing)
	}
	for _, v := range []map[string]any{large, small} {
		ann, _ := v["ingress"].(map[string]any)["annotations"].(map[string]any)
		if ann["cert-manager.io/cluster-issuer"] != "le" {
			t.Errorf("no cert-manager annotation: %v", v["ingress"])
		}
	}
}
