package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
)

// TestTargetClusterAsServiceAccount: storeops runs with exactly the chart's
// RBAC on its own cluster (clusters.enabled) and places a store on a
// second control plane, which it reaches with the token of the chart
// installed there in target mode (targetCluster.enabled: ServiceAccount,
// ClusterRoles, admission policy, token Secret, nothing else). The store's
// namespace, store role binding and release live on the target only.
func TestTargetClusterAsServiceAccount(t *testing.T) {
	home := testcluster.Get(t)
	eu := testcluster.Get(t, testcluster.WithNodes(2)) // a second control plane
	if eu.Kubeconfig == home.Kubeconfig {
		t.Skip("needs two local control planes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // two installs and a store, on a busy machine
	defer cancel()

	target := installWith(t, eu, map[string]any{"targetCluster": map[string]any{"enabled": true}})
	objs, err := eu.Client.AppsV1().Deployments(target.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(objs.Items) != 0 {
		t.Fatalf("target mode installed Deployments %v (%v); want none", objs, err)
	}
	// The kubeconfig an operator makes from the chart's token Secret.
	var token []byte
	waitFor(t, ctx, "the token Secret to be filled", func() (bool, error) {
		sec, err := eu.Client.CoreV1().Secrets(target.ns).Get(ctx, "storeops-token", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		token = sec.Data["token"]
		return len(token) > 0, nil
	})
	kubeconfig, err := os.ReadFile(writeKubeconfig(t, eu.Config, target.ns, string(token)))
	if err != nil {
		t.Fatal(err)
	}

	vals := minimal()
	vals["clusters"] = map[string]any{"enabled": true}
	inst := installWith(t, home, vals)
	_, err = home.Client.CoreV1().Secrets(inst.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-eu", Labels: map[string]string{"storeops.dev/cluster": "eu"}},
		Data: map[string][]byte{
			"kubeconfig":       kubeconfig,
			"storeRole":        []byte(target.ns + "-storeops-store"),
			"storeRoleSubject": []byte(target.ns + "/" + target.sa),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const store = "tgt-eu"
	t.Cleanup(func() {
		_ = eu.Client.CoreV1().Namespaces().Delete(context.Background(), "store-"+store, metav1.DeleteOptions{})
	})

	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": fmt.Sprintf("stores:\n  - {name: %s, type: woocommerce, cluster: eu}\n", store)})
	sv := serveAs(t, inst, repo.URL(), "--clusters")
	defer func() {
		_ = sv.cmd.Process.Kill()
		<-sv.done
		if t.Failed() {
			t.Logf("storeops serve said:\n%s", sv.out.String())
		}
	}()
	waitFor(t, ctx, "the store Ready on the target cluster", func() (bool, error) {
		select {
		case err := <-sv.done:
			t.Fatalf("storeops serve exited: %v", err)
		default:
		}
		resp, err := http.Get("http://" + sv.addr + "/api/v1/stores/" + store)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var s reconcile.StoreStatus
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
			return false, nil
		}
		return s.Phase == reconcile.PhaseReady && s.Cluster == "eu", nil
	})
	if _, err := home.Client.CoreV1().Namespaces().Get(ctx, "store-"+store, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the store's namespace on storeops' own cluster: %v; want none", err)
	}
	rb, err := eu.Client.RbacV1().RoleBindings("store-"+store).Get(ctx, "storeops-storeops", metav1.GetOptions{})
	if err != nil || rb.RoleRef.Name != target.ns+"-storeops-store" || rb.Subjects[0].Namespace != target.ns {
		t.Errorf("store role binding on the target: %+v (%v)", rb, err)
	}
	if l, err := eu.Client.CoreV1().Secrets("store-"+store).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"}); err != nil || len(l.Items) == 0 {
		t.Errorf("no Helm release record on the target (%v)", err)
	}
}
