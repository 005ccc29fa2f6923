package testcluster_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storeops/storeops/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// TestHelmInstallBecomesReady installs a chart with one object of each kind a
// store uses through the Helm SDK, waits as the reconciler does, checks that
// everything is Ready, Complete or Bound, then deletes the namespace and
// waits until it is gone.
func TestHelmInstallBecomesReady(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "smoke")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	chart, err := loader.Load("testdata/smoke")
	if err != nil {
		t.Fatal(err)
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(kube.GetConfig(c.Kubeconfig, "", ns), ns, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = "shop"
	install.Namespace = ns
	install.Wait = true
	install.WaitForJobs = true
	install.Timeout = 3 * time.Minute
	began := time.Now()
	rel, err := install.RunWithContext(ctx, chart, nil)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Logf("release %s %s in %s", rel.Name, rel.Info.Status, time.Since(began).Round(10*time.Millisecond))

	k := c.Client
	dep, err := k.AppsV1().Deployments(ns).Get(ctx, "shop-web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status.ReadyReplicas != 2 || !hasDeploymentCondition(dep, appsv1.DeploymentAvailable) {
		t.Errorf("deployment: %d ready replicas, conditions %v; want 2 and Available", dep.Status.ReadyReplicas, dep.Status.Conditions)
	}
	sts, err := k.AppsV1().StatefulSets(ns).Get(ctx, "shop-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sts.Status.ReadyReplicas != 1 {
		t.Errorf("statefulset: %d ready replicas, want 1", sts.Status.ReadyReplicas)
	}
	pvc, err := k.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-shop-db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		t.Errorf("pvc: phase %s, volume %q; want Bound to a volume", pvc.Status.Phase, pvc.Spec.VolumeName)
	}
	job, err := k.BatchV1().Jobs(ns).Get(ctx, "shop-setup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status.Succeeded != 1 || !hasJobCondition(job, batchv1.JobComplete) {
		t.Errorf("job: %d succeeded, conditions %v; want Complete", job.Status.Succeeded, job.Status.Conditions)
	}
	lb, err := k.CoreV1().Services(ns).Get(ctx, "shop-public", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Status.LoadBalancer.Ingress) == 0 {
		t.Errorf("LoadBalancer service has no address")
	}
	if _, err := k.CoreV1().Secrets(ns).Get(ctx, "shop-credentials", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if _, err := k.NetworkingV1().Ingresses(ns).Get(ctx, "shop-web", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	pods, err := k.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			t.Errorf("pod %s was never scheduled", p.Name)
		}
	}

	began = time.Now()
	if err := k.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := k.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("namespace %s still there after %s", ns, time.Since(began).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("namespace deleted in %s", time.Since(began).Round(10*time.Millisecond))
	pv, err := k.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err == nil && pv.DeletionTimestamp == nil && pv.Status.Phase == corev1.VolumeBound {
		t.Errorf("volume %s still bound after its claim was deleted", pv.Name)
	}
}

// TestRBACIsEnforced mints a token for a ServiceAccount bound to a Role that
// only reads ConfigMaps, and checks that everything else is refused.
func TestRBACIsEnforced(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "rbac")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := c.Client

	if _, err := k.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := createReadConfigMapsRole(ctx, k, ns, "reader"); err != nil {
		t.Fatal(err)
	}
	reader := serviceAccountClient(ctx, t, c, ns, "reader")

	review, err := reader.AuthenticationV1().SelfSubjectReviews().Create(ctx, selfSubjectReview(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("system:serviceaccount:%s:reader", ns); review.Status.UserInfo.Username != want {
		t.Fatalf("authenticated as %q, want %q", review.Status.UserInfo.Username, want)
	}
	// RoleBindings take effect when the authorizer's informer sees them.
	waitAllowed(ctx, t, func() error {
		_, err := reader.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err
	})

	refused := map[string]func() error{
		"list secrets": func() error {
			_, err := reader.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		},
		"create configmap": func() error {
			_, err := reader.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "x"},
			}, metav1.CreateOptions{})
			return err
		},
		"list configmaps in kube-system": func() error {
			_, err := reader.CoreV1().ConfigMaps("kube-system").List(ctx, metav1.ListOptions{})
			return err
		},
		"list namespaces": func() error {
			_, err := reader.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		},
		"delete namespace": func() error {
			return reader.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		},
	}
	for name, call := range refused {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want Forbidden", name, err)
		}
	}
}

func hasDeploymentCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func hasJobCondition(j *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
