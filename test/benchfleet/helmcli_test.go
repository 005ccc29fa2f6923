package benchfleet_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/reporoot"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// benchHelmCLI installs n stores the way a shell script would, one after
// the other: the namespace and its credentials Secret, then `helm upgrade
// --install --wait` of the store's chart from charts/ with the values
// storeops renders. It returns the time until the last install returned.
func benchHelmCLI(b *testing.B, c *testcluster.Cluster, helm string, n int) time.Duration {
	root, err := reporoot.Find()
	if err != nil {
		b.Fatal(err)
	}
	file, names := fleet(fmt.Sprintf("hc%d", n), n)
	cfg, err := render.Parse("stores.yaml", []byte(file), render.Limits{MaxStores: 100000})
	if err != nil {
		b.Fatal(err)
	}
	desired := render.Render(cfg)
	dir := b.TempDir()
	b.Cleanup(func() { deleteStores(b, c.Client, names); waitGone(b, c, names, 5*time.Minute) })
	ctx := context.Background()
	start := time.Now()
	for i := range desired {
		d := &desired[i]
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, d.Namespace, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		creds, err := reconcile.EmbeddedCharts{}.NewCredentials(d.Store.Type)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Client.CoreV1().Secrets(d.Namespace.Name).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: render.CredentialsSecret}, Data: creds}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		values, err := yaml.Marshal(d.Release.Values)
		if err != nil {
			b.Fatal(err)
		}
		vf := filepath.Join(dir, d.Store.Name+".yaml")
		if err := os.WriteFile(vf, values, 0o600); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(helm, "upgrade", "--install", d.Release.Name, filepath.Join(root, "charts", string(d.Store.Type)),
			"--namespace", d.Namespace.Name, "--values", vf, "--wait", "--timeout", "10m", "--kubeconfig", c.Kubeconfig)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"), "HELM_CONFIG_HOME="+filepath.Join(dir, "config"),
			"HELM_DATA_HOME="+filepath.Join(dir, "data"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helm upgrade --install %s: %v\n%s", d.Release.Name, err, out)
		}
	}
	return time.Since(start)
}
