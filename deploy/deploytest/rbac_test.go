package deploytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/storeopsbin"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/web"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// installed is the chart installed by Helm (as the cluster admin) in a
// test namespace.
type installed struct {
	ns         string
	sa         string // the ServiceAccount storeops runs as
	kubeconfig string // a kubeconfig with only that ServiceAccount's token
	client     kubernetes.Interface
}

// install installs deploy/chart into a fresh namespace that enforces the
// "restricted" Pod Security level, waits until its Deployment is available
// (kwok plays the kubelet: the image is not pulled, but the pods passed
// admission), and mints a token for its ServiceAccount.
func install(t *testing.T) *installed {
	t.Helper()
	return installWith(t, testcluster.Get(t), minimal())
}

// installWith installs the chart with vals on cluster c, as install does.
// With targetCluster.enabled there is no Deployment to wait for.
func installWith(t *testing.T, c *testcluster.Cluster, vals map[string]any) *installed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := c.Namespace(t, "storeops-deploy")
	nsObj, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if _, err := c.Client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	cfg := helmConfig(t, c.Kubeconfig, ns)
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.Timeout = "storeops", ns, 2*time.Minute
	began := time.Now()
	if _, err := in.RunWithContext(ctx, ch, vals); err != nil {
		t.Fatalf("helm install deploy/chart: %v", err)
	}
	t.Cleanup(func() {
		// The namespace goes at cleanup; the ClusterRole and its binding
		// are cluster-scoped and go with the release.
		if _, err := action.NewUninstall(cfg).Run("storeops"); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
	})
	waitFor(t, ctx, "the storeops Deployment to be available under Pod Security restricted", func() (bool, error) {
		if target, _ := vals["targetCluster"].(map[string]any); target["enabled"] == true {
			return true, nil
		}
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "storeops", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.AvailableReplicas == 2, nil
	})
	t.Logf("chart installed, Deployment available in %s", time.Since(began).Round(time.Millisecond))

	inst := &installed{ns: ns, sa: "storeops"}
	exp := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, inst.sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, inst.sa, err)
	}
	inst.kubeconfig = writeKubeconfig(t, c.Config, ns, tr.Status.Token)
	restCfg := rest.AnonymousClientConfig(c.Config)
	restCfg.BearerToken = tr.Status.Token
	if inst.client, err = kubernetes.NewForConfig(restCfg); err != nil {
		t.Fatal(err)
	}
	// The token is the ServiceAccount's, and nothing else.
	who, err := inst.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":" + inst.sa; who.Status.UserInfo.Username != want {
		t.Fatalf("token authenticates as %q, want %q", who.Status.UserInfo.Username, want)
	}
	// The API server's RBAC cache learns of new bindings asynchronously.
	waitFor(t, ctx, "the ClusterRoleBinding to take effect", func() (bool, error) {
		_, err := inst.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
		if apierrors.IsForbidden(err) {
			return false, nil
		}
		return err == nil, err
	})
	// So does its admission plugin of new policies: a Secret of another
	// name than the instance key, in storeops' own namespace, which RBAC
	// allows and the ValidatingAdmissionPolicy refuses (a dry run: nothing
	// is stored either way).
	if target, _ := vals["targetCluster"].(map[string]any); target["enabled"] == true {
		return inst // no Role in its namespace: the probe below would meet RBAC first
	}
	waitFor(t, ctx, "the ValidatingAdmissionPolicy to take effect", func() (bool, error) {
		_, err := inst.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "policy-probe"}},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return false, nil
		}
		return refusedByPolicy(err), err
	})
	return inst
}

// refusedByPolicy reports whether err is the refusal of storeops'
// ValidatingAdmissionPolicy (not of RBAC).
func refusedByPolicy(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy")
}

// storeRoleArgs are the flags the chart's Deployment passes so that
// storeops binds the store role in each store namespace it creates.
func (inst *installed) storeRoleArgs() []string {
	return []string{"--store-role", inst.ns + "-storeops-store", "--store-role-subject", inst.ns + "/" + inst.sa}
}

// helmConfig is a Helm configuration for namespace with an admin kubeconfig.
func helmConfig(t *testing.T, kubeconfig, namespace string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writeKubeconfig writes a kubeconfig that authenticates with token only.
func writeKubeconfig(t *testing.T, admin *rest.Config, namespace, token string) string {
	t.Helper()
	ca := admin.TLSClientConfig.CAData
	if len(ca) == 0 && admin.TLSClientConfig.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(admin.TLSClientConfig.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: ca, InsecureSkipTLSVerify: admin.TLSClientConfig.Insecure}
	cfg.AuthInfos["storeops"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["storeops"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "storeops", Namespace: namespace}
	cfg.CurrentContext = "storeops"
	path := filepath.Join(t.TempDir(), "storeops-sa.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// storeopsEnv is the environment of the binary: nothing that could give it
// other credentials than the kubeconfig passed on its command line.
func storeopsEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "STOREOPS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runStoreops runs the binary to completion and returns its exit code and
// output.
func runStoreops(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	code, out, err := storeopsbin.Run(ctx, binary, storeopsEnv(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return code, out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSyncAsServiceAccount: with only the chart's RBAC, storeops creates a
// WooCommerce and a Medusa store (namespace, quota, limit range, network
// policy, credentials, Helm release with hook Jobs) until both are Ready,
// then deletes them one at a time.
func TestSyncAsServiceAccount(t *testing.T) {
	c := testcluster.Get(t)
	inst := install(t)
	t.Cleanup(func() {
		for _, ns := range []string{"store-rbac-woo", "store-rbac-medusa"} {
			err := c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Logf("cleanup %s: %v", ns, err)
			}
		}
	})
	sync := func(step, storesYAML string) string {
		t.Helper()
		file := writeFile(t, "stores.yaml", storesYAML)
		began := time.Now()
		code, out := runStoreops(t, append([]string{"sync", "--once", "-f", file, "--kubeconfig", inst.kubeconfig, "--timeout", "6m", "-v",
			"--leader-election-namespace", inst.ns}, inst.storeRoleArgs()...)...)
		if code != 0 {
			t.Fatalf("%s: storeops sync as %s/%s exited %d:\n%s", step, inst.ns, inst.sa, code, out)
		}
		t.Logf("%s: sync --once as the ServiceAccount took %s", step, time.Since(began).Round(time.Millisecond))
		return out
	}

	out := sync("create", `stores:
  - name: rbac-woo
    type: woocommerce
  - name: rbac-medusa
    type: medusa
`)
	if !strings.Contains(out, "2 stores ready.") {
		t.Fatalf("create: want both stores ready:\n%s", out)
	}
	ctx := context.Background()
	for _, store := range []string{"rbac-woo", "rbac-medusa"} {
		ns := "store-" + store
		for what, err := range map[string]error{
			"quota":          get(c.Client.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})),
			"limit range":    get(c.Client.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})),
			"network policy": get(c.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})),
			"release record": get(c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + store})),
			"credentials":    get(c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=store-credentials"})),
			"deployments":    get(c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})),
			"statefulsets":   get(c.Client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})),
			"ingresses":      get(c.Client.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})),
			"role binding":   get(c.Client.RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=storeops-storeops"})),
		} {
			if err != nil {
				t.Errorf("%s: %s: %v", store, what, err)
			}
		}
	}

	// Unchanged file: nothing to do, still exit 0.
	sync("resync", `stores:
  - name: rbac-woo
    type: woocommerce
  - name: rbac-medusa
    type: medusa
`)

	// A new plan and title: storeops updates the namespace labels, quota
	// and limit range, and Helm upgrades the release (patch).
	out = sync("upgrade", `stores:
  - name: rbac-woo
    type: woocommerce
    plan: medium
    options:
      title: Renamed Shop
  - name: rbac-medusa
    type: medusa
`)
	if !strings.Contains(out, "upgrade rbac-woo: ok") {
		t.Fatalf("upgrade: no upgrade action:\n%s", out)
	}
	q, err := c.Client.CoreV1().ResourceQuotas("store-rbac-woo").List(ctx, metav1.ListOptions{})
	if err != nil || len(q.Items) != 1 || q.Items[0].Spec.Hard.Pods().Value() != 40 {
		t.Fatalf("upgrade: quota of the medium plan not applied: %v %+v", err, q)
	}

	// One store at a time stays within the mass-deletion guard.
	out = sync("delete medusa", "stores:\n  - name: rbac-woo\n    type: woocommerce\n    plan: medium\n")
	if !strings.Contains(out, "delete rbac-medusa: ok") {
		t.Fatalf("delete medusa: no delete action:\n%s", out)
	}
	waitGone(t, c.Client, "store-rbac-medusa")
	out = sync("delete woocommerce", "stores: []\n")
	if !strings.Contains(out, "delete rbac-woo: ok") {
		t.Fatalf("delete woocommerce: no delete action:\n%s", out)
	}
	waitGone(t, c.Client, "store-rbac-woo")
}

// get turns a (list, error) pair into an error, also when the list is empty.
func get(list runtime.Object, err error) error {
	if err != nil {
		return err
	}
	if meta.LenList(list) == 0 {
		return errors.New("none found")
	}
	return nil
}

// waitGone waits until a namespace is deleted or being deleted with its
// Helm release uninstalled.
func waitGone(t *testing.T, k kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFor(t, ctx, "namespace "+ns+" to be deleted", func() (bool, error) {
		n, err := k.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && n.DeletionTimestamp != nil, err
	})
}

// TestServeLeadsAsServiceAccount: storeops serve, as the ServiceAccount,
// takes the Lease in its own namespace through the chart's Role.
func TestServeLeadsAsServiceAccount(t *testing.T) {
	c := testcluster.Get(t)
	inst := install(t)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n"})

	sv := serveAs(t, inst, repo.URL())
	addr, done, cmd := sv.addr, sv.done, sv.cmd
	began := sv.began
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("storeops serve said:\n%s", sv.out.String())
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFor(t, ctx, "storeops serve to lead and be ready", func() (bool, error) {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("storeops serve exited: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/api/v1/status")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var s web.Status
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("status %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			return false, err
		}
		if !s.Leader {
			return false, nil
		}
		r, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK, nil
	})
	t.Logf("serve as the ServiceAccount leads and is ready after %s", time.Since(began).Round(time.Millisecond))
	lease, err := c.Client.CoordinationV1().Leases(inst.ns).Get(ctx, "storeops-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the leader Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("Lease %s/storeops-leader has no holder", inst.ns)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("storeops serve exited with %v after SIGTERM", err)
		}
	case <-time.After(time.Minute):
		t.Errorf("storeops serve did not stop within a minute of SIGTERM")
	}
	// ReleaseOnCancel: the Lease was given up for the next replica.
	lease, err = c.Client.CoordinationV1().Leases(inst.ns).Get(ctx, "storeops-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		t.Errorf("Lease still held by %q after a clean stop (the release needs update on it)", *lease.Spec.HolderIdentity)
	}
}

// syncBuffer collects what a storeops process prints.
type syncBuffer = storeopsbin.Output

// served is a storeops serve process running as the chart's
// ServiceAccount.
type served struct {
	addr  string
	cmd   *exec.Cmd
	done  chan error // its exit
	out   *syncBuffer
	began time.Time
}

// serveAs starts storeops serve on the repository at url with only the
// ServiceAccount's token, on a free loopback port; extra are more flags.
func serveAs(t *testing.T, inst *installed, url string, extra ...string) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{addr: ln.Addr().String(), out: &syncBuffer{}, done: make(chan error, 1)}
	ln.Close()
	args := append([]string{"serve", "--git-url", url, "--listen", s.addr,
		"--kubeconfig", inst.kubeconfig, "--leader-election-namespace", inst.ns,
		"--schedule", "@every 1h", "--log-level", "debug", "--anonymous-reads"}, inst.storeRoleArgs()...)
	s.cmd = exec.Command(binary, append(args, extra...)...)
	s.cmd.Env = storeopsEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.began = time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	return s
}

// TestServiceAccountIsRefused: what the chart's RBAC must not allow, asked
// of the API server's authorizer (SubjectAccessReview) and, for a few,
// tried for real with the ServiceAccount's token.
func TestServiceAccountIsRefused(t *testing.T) {
	c := testcluster.Get(t)
	inst := install(t)
	ctx := context.Background()
	user := "system:serviceaccount:" + inst.ns + ":" + inst.sa
	type attrs = authorizationv1.ResourceAttributes
	storeRole := inst.ns + "-storeops-store"
	denied := map[string]attrs{
		"create a ClusterRoleBinding":        {Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
		"create a Role":                      {Namespace: "store-x", Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles"},
		"update a RoleBinding":               {Namespace: "store-x", Verb: "update", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
		"escalate a ClusterRole":             {Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		"bind a ClusterRole":                 {Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "cluster-admin"},
		"bind the admin ClusterRole":         {Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "admin"},
		"read a secret in kube-system":       {Namespace: "kube-system", Verb: "get", Resource: "secrets"},
		"read another secret in its ns":      {Namespace: inst.ns, Verb: "get", Resource: "secrets", Name: "other"},
		"patch another secret in its ns":     {Namespace: inst.ns, Verb: "patch", Resource: "secrets", Name: "other"},
		"update its instance key":            {Namespace: inst.ns, Verb: "update", Resource: "secrets", Name: "storeops-instance-storeops"},
		"create a secret in kube-system":     {Namespace: "kube-system", Verb: "create", Resource: "secrets"},
		"create a secret in a new store":     {Namespace: "store-x", Verb: "create", Resource: "secrets"},
		"create a ConfigMap in kube-system":  {Namespace: "kube-system", Verb: "create", Resource: "configmaps"},
		"update a ConfigMap anywhere":        {Namespace: "default", Verb: "update", Resource: "configmaps"},
		"create a Deployment in kube-system": {Namespace: "kube-system", Verb: "create", Group: "apps", Resource: "deployments"},
		"create a Job anywhere":              {Namespace: "default", Verb: "create", Group: "batch", Resource: "jobs"},
		"read pods outside stores":           {Namespace: "kube-system", Verb: "list", Resource: "pods"},
		"impersonate a user":                 {Verb: "impersonate", Resource: "users", Name: "admin"},
		"impersonate a ServiceAccount":       {Namespace: "kube-system", Verb: "impersonate", Resource: "serviceaccounts"},
		"mint tokens":                        {Namespace: "kube-system", Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
		"create a pod":                       {Namespace: "store-x", Verb: "create", Resource: "pods"},
		"delete a pod":                       {Namespace: "store-x", Verb: "delete", Resource: "pods"},
		"exec into a pod":                    {Namespace: "store-x", Verb: "create", Resource: "pods", Subresource: "exec"},
		"list nodes":                         {Verb: "list", Resource: "nodes"},
		"create a PersistentVolume":          {Verb: "create", Resource: "persistentvolumes"},
		"create a CRD":                       {Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
		"create an admission webhook":        {Verb: "create", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"},
		"take a Lease in kube-system":        {Namespace: "kube-system", Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "kube-controller-manager"},
		"delete a Lease elsewhere":           {Namespace: "default", Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Name: "other"},
		"list Leases elsewhere":              {Namespace: "default", Verb: "list", Group: "coordination.k8s.io", Resource: "leases"},
		"delete all secrets at once":         {Namespace: "store-x", Verb: "deletecollection", Resource: "secrets"},
		"patch a namespace":                  {Verb: "patch", Resource: "namespaces"},
		"delete a ResourceQuota":             {Namespace: "store-x", Verb: "delete", Resource: "resourcequotas"},
		"delete a NetworkPolicy":             {Namespace: "store-x", Verb: "delete", Group: "networking.k8s.io", Resource: "networkpolicies"},
		"list secrets everywhere":            {Verb: "list", Resource: "secrets"},
		"update another ConfigMap in its ns": {Namespace: inst.ns, Verb: "update", Resource: "configmaps", Name: "other"},
		"list ConfigMaps in its own ns":      {Namespace: inst.ns, Verb: "list", Resource: "configmaps"},
		"watch secrets everywhere":           {Verb: "watch", Resource: "secrets"},
		"list secrets in kube-system":        {Namespace: "kube-system", Verb: "list", Resource: "secrets"},
		"watch secrets in kube-system":       {Namespace: "kube-system", Verb: "watch", Resource: "secrets"},
		"list secrets in its own ns":         {Namespace: inst.ns, Verb: "list", Resource: "secrets"},
		"list secrets in an unbound store":   {Namespace: "store-x", Verb: "list", Resource: "secrets"},
	}
	// Granted by necessity (see deploy/README.md, "RBAC"): store namespaces
	// appear at run time and informers watch across namespaces (all but
	// the Secret informers, one per store namespace through the store
	// role). The ValidatingAdmissionPolicy confines the writes
	// (TestAdmissionPolicy).
	//
	// With two replicas the chart shares the stores between them
	// (--shards): each replica's member Lease has a name of its own, so
	// the Role grants every verb on the Leases of storeops' own namespace,
	// and nowhere else. Without sharding the Role names its two Leases
	// (TestRenderShardingOff).
	granted := map[string]attrs{
		"take its own Lease":              {Namespace: inst.ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "storeops-leader"},
		"renew a member Lease":            {Namespace: inst.ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "storeops-member-x"},
		"give up its member Lease":        {Namespace: inst.ns, Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Name: "storeops-member-x"},
		"read its instance key":           {Namespace: inst.ns, Verb: "get", Resource: "secrets", Name: "storeops-instance-storeops"},
		"patch its instance key":          {Namespace: inst.ns, Verb: "patch", Resource: "secrets", Name: "storeops-instance-storeops"},
		"record a logout":                 {Namespace: inst.ns, Verb: "update", Resource: "configmaps", Name: "storeops-sessions"},
		"watch the logouts":               {Namespace: inst.ns, Verb: "watch", Resource: "configmaps", Name: "storeops-sessions"},
		"create a namespace":              {Verb: "create", Resource: "namespaces"},
		"create a RoleBinding anywhere":   {Namespace: "store-x", Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
		"bind the store role":             {Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: storeRole},
		"list deployments in any ns":      {Namespace: "kube-system", Verb: "list", Group: "apps", Resource: "deployments"},
		"update namespaces (by label)":    {Verb: "update", Resource: "namespaces"},
		"delete namespaces (by label)":    {Verb: "delete", Resource: "namespaces"},
		"create secrets in its own ns":    {Namespace: inst.ns, Verb: "create", Resource: "secrets"},
		"watch jobs in any namespace":     {Namespace: "kube-system", Verb: "watch", Group: "batch", Resource: "jobs"},
		"list ingresses in any namespace": {Namespace: "kube-system", Verb: "list", Group: "networking.k8s.io", Resource: "ingresses"},
	}
	check := func(what string, a attrs, want bool) {
		sar, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + inst.ns, "system:authenticated"}, ResourceAttributes: &a},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != want {
			t.Errorf("%s (%+v): allowed=%v, want %v (%s)", what, a, sar.Status.Allowed, want, sar.Status.Reason)
		}
	}
	for what, a := range denied {
		check(what, a, false)
	}
	for what, a := range granted {
		check(what, a, true)
	}

	// And for real, with the token.
	_, err := inst.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "storeops-escalation-attempt"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: inst.sa, Namespace: inst.ns}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("create ClusterRoleBinding to cluster-admin: %v, want Forbidden", err)
	}
	_, err = inst.client.CoreV1().Pods(inst.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "attempt"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) {
		t.Errorf("create a pod: %v, want Forbidden", err)
	}
	_, err = inst.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("list nodes: %v, want Forbidden", err)
	}
}

// TestServiceAccountReadsNoSecretsOutsideStores: with the chart's RBAC,
// storeops' ServiceAccount cannot read the Secrets of the cluster: not
// listed or watched across namespaces, not in kube-system, not in another
// team's namespace, tried for real with its token. (Before the observer
// kept one Secret informer per store namespace, the ClusterRole granted
// list and watch of every Secret.)
func TestServiceAccountReadsNoSecretsOutsideStores(t *testing.T) {
	c := testcluster.Get(t)
	inst := install(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	other := c.Namespace(t, "other-team")
	if _, err := c.Client.CoreV1().Secrets(other).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "database", Labels: map[string]string{"app.kubernetes.io/managed-by": "storeops"}},
		StringData: map[string]string{"password": "not-for-storeops"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secrets := inst.client.CoreV1()
	for what, err := range map[string]error{
		"list every Secret":               errOf(secrets.Secrets("").List(ctx, metav1.ListOptions{})),
		"list every storeops Secret":      errOf(secrets.Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=storeops"})),
		"watch every Secret":              errOf(secrets.Secrets("").Watch(ctx, metav1.ListOptions{})),
		"get a Secret in kube-system":     errOf(secrets.Secrets("kube-system").Get(ctx, "bootstrap-token-abcdef", metav1.GetOptions{})),
		"list the Secrets of kube-system": errOf(secrets.Secrets("kube-system").List(ctx, metav1.ListOptions{})),
		"list a Secret by name in kube-system": errOf(secrets.Secrets("kube-system").List(ctx,
			metav1.ListOptions{FieldSelector: "metadata.name=bootstrap-token-abcdef"})),
		"get another team's Secret":   errOf(secrets.Secrets(other).Get(ctx, "database", metav1.GetOptions{})),
		"list another team's Secrets": errOf(secrets.Secrets(other).List(ctx, metav1.ListOptions{})),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as storeops' ServiceAccount: %v, want Forbidden", what, err)
		}
	}
}

// errOf keeps the error of a (value, error) pair; a watch that was not
// refused is stopped.
func errOf[T any](v T, err error) error {
	if w, ok := any(v).(interface{ Stop() }); ok && err == nil {
		w.Stop()
	}
	return err
}
