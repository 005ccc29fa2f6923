package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterSecret is a cluster registration whose kubeconfig edit changed.
func clusterSecret(t *testing.T, name string, edit func(*clientcmdapi.Config), extra map[string]string) *corev1.Secret {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("not checked here")}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t0ken"}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "x"
	if edit != nil {
		edit(cfg)
	}
	raw, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{"kubeconfig": raw}
	for k, v := range extra {
		data[k] = []byte(v)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-" + name, Namespace: "storeops",
		Labels: map[string]string{LabelCluster: name}}, Data: data}
}

// A cluster Secret is whoever could write Secrets in storeops' namespace
// talking: its kubeconfig may not make storeops run a command or read a
// file of its own (its service account token), and its names are checked.
func TestParseRegistrationRefuses(t *testing.T) {
	for _, c := range []struct {
		what  string
		sec   *corev1.Secret
		wants string
	}{
		{"exec plugin", clusterSecret(t, "eu", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "/bin/sh", Args: []string{"-c", "id"}, APIVersion: "client.authentication.k8s.io/v1"}}
		}, nil), "credential plugin"},
		{"auth provider", clusterSecret(t, "eu", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc"}}
		}, nil), "credential plugin"},
		{"token file", clusterSecret(t, "eu", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"] = &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
		}, nil), "names files"},
		{"client key file", clusterSecret(t, "eu", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificate: "/etc/x.crt", ClientKey: "/etc/x.key"}
		}, nil), "names files"},
		{"CA file", clusterSecret(t, "eu", func(c *clientcmdapi.Config) {
			c.Clusters["c"].CertificateAuthority, c.Clusters["c"].CertificateAuthorityData = "/etc/ca.crt", nil
		}, nil), "names files"},
		{"no current context", clusterSecret(t, "eu", func(c *clientcmdapi.Config) { c.CurrentContext = "" }, nil), "no current context"},
		{"dangling context", clusterSecret(t, "eu", func(c *clientcmdapi.Config) { c.Contexts["x"].AuthInfo = "nobody" }, nil), "does not have"},
		{"local", clusterSecret(t, "local", nil, nil), "not a cluster name"},
		{"bad name", clusterSecret(t, "EU_1", nil, nil), "not a cluster name"},
		{"store role half", clusterSecret(t, "eu", nil, map[string]string{"storeRole": "storeops-store"}), "go together"},
		{"garbage", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-eu", Labels: map[string]string{LabelCluster: "eu"}},
			Data: map[string][]byte{"kubeconfig": []byte("{{{")}}, "does not parse"},
		{"empty", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-eu", Labels: map[string]string{LabelCluster: "eu"}}}, `no key "kubeconfig"`},
	} {
		t.Run(c.what, func(t *testing.T) {
			_, err := parseRegistration(c.sec)
			if err == nil || !strings.Contains(err.Error(), c.wants) || !strings.Contains(err.Error(), "Secret") {
				t.Fatalf("got %v, want an error naming the Secret and saying %q", err, c.wants)
			}
		})
	}
}

func TestParseRegistration(t *testing.T) {
	reg, err := parseRegistration(clusterSecret(t, "eu-west", nil, map[string]string{"storeRole": "storeops-storeops-store", "storeRoleSubject": "storeops/storeops"}))
	if err != nil {
		t.Fatal(err)
	}
	if reg.name != "eu-west" || reg.config.Host != "https://127.0.0.1:6443" || reg.config.BearerToken != "t0ken" {
		t.Errorf("registration %+v", reg)
	}
	if r := reg.storeRole; r == nil || r.ClusterRole != "storeops-storeops-store" || r.Namespace != "storeops" || r.ServiceAccount != "storeops" {
		t.Errorf("store role %+v", r)
	}
	// The same data is the same registration; other data is not.
	again, _ := parseRegistration(clusterSecret(t, "eu-west", nil, map[string]string{"storeRole": "storeops-storeops-store", "storeRoleSubject": "storeops/storeops"}))
	other, _ := parseRegistration(clusterSecret(t, "eu-west", func(c *clientcmdapi.Config) { c.AuthInfos["u"].Token = "other" }, nil))
	if again.sum != reg.sum || other.sum == reg.sum {
		t.Error("the data's checksum does not tell changed Secrets from resynced ones")
	}
}
