package deploytest

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/storeops/storeops/charts"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// chartDir is storeops' own chart, relative to this package.
var chartDir = filepath.Join("..", "chart")

const gitURL = "https://git.example.com/ops/stores.git"

// kubeVersion is the version rendering assumes (the local control plane's).
var kubeVersion = &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}

// minimal are the least values the chart installs with.
// Reads are anonymous here: the chart refuses to install without a login
// otherwise (TestRenderRefusesBadValues).
func minimal() map[string]any {
	return map[string]any{"git": map[string]any{"url": gitURL}, "dashboard": map[string]any{"anonymousReads": true}}
}

// rendered is the chart rendered with some values, decoded.
type rendered struct {
	objects []runtime.Object
	notes   string
}

// render renders the chart client-side (helm template) into namespace.
func render(t *testing.T, namespace string, vals map[string]any) (rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load %s: %v", chartDir, err)
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	in := action.NewInstall(cfg)
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "storeops", namespace
	in.KubeVersion = kubeVersion
	rel, err := in.Run(ch, vals)
	if err != nil {
		return rendered{}, err
	}
	var out rendered
	out.notes = rel.Info.Notes
	manifests := releaseutil.SplitManifests(rel.Manifest)
	keys := make([]string, 0, len(manifests))
	for k := range manifests {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	for _, k := range keys {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(manifests[k]), nil, nil)
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", k, err, manifests[k])
		}
		out.objects = append(out.objects, obj)
	}
	return out, nil
}

func mustRender(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	r, err := render(t, "storeops-system", vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// only returns the single object of type T.
func only[T runtime.Object](t *testing.T, r rendered) T {
	t.Helper()
	var found []T
	for _, o := range r.objects {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T, rendered %d", zero, len(found))
	}
	return found[0]
}

func kinds(r rendered) []string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind)
	}
	sort.Strings(out)
	return out
}

func TestLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"minimal":  minimal(),
		"complete": complete(),
	} {
		t.Run(name, func(t *testing.T) {
			l := action.NewLint()
			l.Namespace = "storeops-system"
			l.KubeVersion = kubeVersion
			res := l.Run([]string{chartDir}, vals)
			for _, err := range res.Errors {
				t.Errorf("lint error: %v", err)
			}
			for _, m := range res.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
		})
	}
}

// complete sets every optional feature: secrets, forge, ingress with TLS.
func complete() map[string]any {
	var v map[string]any
	err := yaml.Unmarshal([]byte(`
git:
  url: ssh://git@git.example.com/ops/stores.git
  username: ""
secrets:
  git: {existingSecret: storeops-git, tokenKey: "", sshKeyKey: ssh-privatekey, knownHostsKey: known_hosts, sshKeyPassphraseKey: passphrase}
  webhook: {existingSecret: storeops-webhook}
  forge: {existingSecret: storeops-forge, gitPushTokenKey: push-token}
  dashboard: {existingSecret: storeops-dashboard, usersKey: users, tokensKey: tokens, sessionKeyKey: session-key}
forge: {kind: gitea, url: "https://gitea.example.com", repo: ops/stores}
dashboard: {readAuth: true, secureCookies: true}
ingress:
  enabled: true
  className: traefik
  host: storeops.example.com
  annotations: {cert-manager.io/cluster-issuer: letsencrypt}
  tls: {enabled: true, secretName: storeops-tls}
extraArgs: ["--confirm-deletions=abc1234"]
`), &v)
	if err != nil {
		panic(err)
	}
	return v
}

func TestRenderDefaults(t *testing.T) {
	r := mustRender(t, minimal())
	want := []string{"ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	if got := kinds(r); !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v (no Secret, no Ingress by default)", got, want)
	}
	d := only[*appsv1.Deployment](t, r)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"serve ", "--listen=0.0.0.0:8080", "--git-url=" + gitURL, "--leader-elect=true",
		"--store-role=storeops-system-storeops-store", "--store-role-subject=storeops-system/storeops",
		"--leader-election-namespace=$(POD_NAMESPACE)", "--git-cache-dir=/var/cache/storeops/git", "--max-bytes=1048576", "--max-delete-share=0.5"} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q: %s", want, args)
		}
	}
	for _, unwanted := range []string{"-file", "--webhooks", "--forge"} {
		if strings.Contains(args, unwanted) {
			t.Errorf("args without secrets contain %q: %s", unwanted, args)
		}
	}
	if c.Env[0].Name != "POD_NAMESPACE" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE does not come from the downward API: %+v", c.Env[0])
	}
	var memLimit bool
	for _, e := range c.Env {
		if e.Name == "STOREOPS_MEMORY_LIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" {
			memLimit = true
		}
	}
	if !memLimit {
		t.Errorf("STOREOPS_MEMORY_LIMIT does not come from limits.memory: %+v", c.Env)
	}
	if c.Image != "ghcr.io/storeops/storeops:0.1.0" {
		t.Errorf("image %s", c.Image)
	}
	// Hardening.
	psc := pod.SecurityContext
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v", sc)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["tmp"] != "/tmp" || mounts["git-cache"] != "/var/cache/storeops/git" {
		t.Errorf("mounts %v", mounts)
	}
	for _, v := range pod.Volumes {
		if v.EmptyDir == nil {
			t.Errorf("volume %s is not an emptyDir without secrets", v.Name)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.StartupProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: liveness %s, readiness %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}
	if pod.ServiceAccountName != "storeops" {
		t.Errorf("service account %q", pod.ServiceAccountName)
	}
	pdb := only[*policyv1.PodDisruptionBudget](t, r)
	if pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v", pdb.Spec.MaxUnavailable)
	}
	role := only[*rbacv1.Role](t, r)
	for _, rule := range role.Rules {
		if slices.Equal(rule.APIGroups, []string{""}) && slices.Equal(rule.Resources, []string{"secrets"}) {
			if !slices.Equal(rule.Verbs, []string{"create"}) && !(slices.Equal(rule.Verbs, []string{"get", "patch"}) && slices.Equal(rule.ResourceNames, []string{"storeops-instance-storeops"})) {
				t.Errorf("secret rule not limited to creating, reading and patching the instance key: %+v", rule)
			}
			continue
		}
		if slices.Equal(rule.APIGroups, []string{""}) && slices.Equal(rule.Resources, []string{"configmaps"}) {
			if !slices.Equal(rule.Verbs, []string{"create"}) && !slices.Equal(rule.ResourceNames, []string{"storeops-sessions"}) {
				t.Errorf("configmap rule not limited to the dashboard's logouts: %+v", rule)
			}
			continue
		}
		if !slices.Equal(rule.APIGroups, []string{"coordination.k8s.io"}) || !slices.Equal(rule.Resources, []string{"leases"}) {
			t.Errorf("the namespaced Role grants more than leases, the instance key and the logouts: %+v", rule)
		}
		sharding := len(rule.ResourceNames) == 0 && slices.Equal(rule.Verbs, allVerbs) // member and shard Leases of --shards
		if !slices.Equal(rule.Verbs, []string{"create"}) && !slices.Equal(rule.ResourceNames, []string{"storeops-leader"}) &&
			!slices.Equal(rule.ResourceNames, []string{"storeops-leader-sync"}) && !sharding {
			t.Errorf("lease rule not limited to storeops-leader, storeops-leader-sync and the shard group: %+v", rule)
		}
	}
	// Two replicas share the stores in 32 shards.
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--shards=32") {
		t.Errorf("two replicas without --shards=32: %s", args)
	}
	if !strings.Contains(r.notes, "storeops-system/storeops-leader") {
		t.Errorf("NOTES: %s", r.notes)
	}
}

// TestRenderSecretsAsFiles: every credential is a file from an existing
// Secret, never a flag value, an environment variable or a generated Secret.
func TestRenderSecretsAsFiles(t *testing.T) {
	r := mustRender(t, complete())
	for _, o := range r.objects {
		if _, ok := o.(*corev1.Secret); ok {
			t.Fatal("the chart renders a Secret; it must only reference existing ones")
		}
	}
	d := only[*appsv1.Deployment](t, r)
	c := d.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{
		"--git-ssh-key-file=/etc/storeops/secrets/git-ssh-key",
		"--git-known-hosts-file=/etc/storeops/secrets/git-known-hosts",
		"--git-ssh-key-passphrase-file=/etc/storeops/secrets/git-ssh-key-passphrase",
		"--webhook-secret-file=/etc/storeops/secrets/webhook-secret",
		"--forge-token-file=/etc/storeops/secrets/forge-token",
		"--git-push-token-file=/etc/storeops/secrets/git-push-token",
		"--dashboard-users-file=/etc/storeops/secrets/dashboard-users",
		"--dashboard-tokens-file=/etc/storeops/secrets/dashboard-tokens",
		"--dashboard-session-key-file=/etc/storeops/secrets/dashboard-session-key",
		"--forge=gitea", "--forge-url=https://gitea.example.com", "--forge-repo=ops/stores",
		"--dashboard-read-auth", "--secure-cookies", "--confirm-deletions=abc1234",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q", want)
		}
	}
	if strings.Contains(args, "--git-token-file") {
		t.Errorf("tokenKey \"\" still passes --git-token-file")
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			t.Errorf("secret in environment variable %s", e.Name)
		}
	}
	var projected *corev1.ProjectedVolumeSource
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "secrets" {
			projected = v.Projected
		}
	}
	if projected == nil {
		t.Fatal("no projected secrets volume")
	}
	files := map[string]string{}
	for _, src := range projected.Sources {
		for _, it := range src.Secret.Items {
			files[it.Path] = src.Secret.Name + "/" + it.Key
		}
	}
	want := map[string]string{
		"git-ssh-key": "storeops-git/ssh-privatekey", "git-known-hosts": "storeops-git/known_hosts",
		"git-ssh-key-passphrase": "storeops-git/passphrase", "webhook-secret": "storeops-webhook/webhook-secret",
		"forge-token": "storeops-forge/token", "git-push-token": "storeops-forge/push-token", "dashboard-users": "storeops-dashboard/users",
		"dashboard-tokens": "storeops-dashboard/tokens", "dashboard-session-key": "storeops-dashboard/session-key",
	}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Errorf("secret files %v, want %v", files, want)
	}
	if *projected.DefaultMode != 0o440 {
		t.Errorf("secret files mode %o", *projected.DefaultMode)
	}
	ing := only[*networkingv1.Ingress](t, r)
	if *ing.Spec.IngressClassName != "traefik" || ing.Spec.TLS[0].SecretName != "storeops-tls" || ing.Spec.Rules[0].Host != "storeops.example.com" {
		t.Errorf("ingress %+v", ing.Spec)
	}
}

func TestRenderRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"no git url": {map[string]any{"dashboard": map[string]any{"anonymousReads": true}}, "git.url is required"},
		"no login":   {map[string]any{"git": map[string]any{"url": gitURL}}, "reading the dashboard and the status API requires a login"},
		"trusted header without proxies": {map[string]any{"git": map[string]any{"url": gitURL}, "dashboard": map[string]any{"trustedHeader": "X-Forwarded-User"}},
			"dashboard.trustedHeader needs dashboard.trustedProxies"},
		"users on two replicas without a session key": {map[string]any{"git": map[string]any{"url": gitURL},
			"secrets": map[string]any{"dashboard": map[string]any{"existingSecret": "d"}}}, "sessionKeyKey is required"},
		"no login, no dashboard": {map[string]any{"git": map[string]any{"url": gitURL}, "dashboard": map[string]any{"enabled": false}},
			"requires a login"},
		"unknown key":     {map[string]any{"git": map[string]any{"url": gitURL}, "replicas": 3}, "replicas"},
		"bad log level":   {map[string]any{"git": map[string]any{"url": gitURL}, "log": map[string]any{"level": "loud"}}, "/log/level"},
		"share above one": {map[string]any{"git": map[string]any{"url": gitURL}, "sync": map[string]any{"maxDeleteShare": 2}}, "/sync/maxDeleteShare"},
		"ssh without known hosts": {map[string]any{"git": map[string]any{"url": gitURL},
			"secrets": map[string]any{"git": map[string]any{"existingSecret": "g", "sshKeyKey": "key"}}}, "knownHostsKey is required"},
		"forge without token": {map[string]any{"git": map[string]any{"url": gitURL}, "forge": map[string]any{"kind": "github"}}, "secrets.forge.existingSecret is required"},
		"gitea without url": {map[string]any{"git": map[string]any{"url": gitURL}, "forge": map[string]any{"kind": "gitea"},
			"secrets": map[string]any{"forge": map[string]any{"existingSecret": "f"}}}, "forge.url is required"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, "storeops-system", tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRenderSingleReplicaHasNoPDB(t *testing.T) {
	vals := minimal()
	vals["replicaCount"] = 1
	vals["leaderElection"] = map[string]any{"enabled": false}
	r := mustRender(t, vals)
	want := []string{"ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "NetworkPolicy", "Role", "RoleBinding", "Service", "ServiceAccount",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	if got := kinds(r); !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	for _, rule := range only[*rbacv1.Role](t, r).Rules {
		if slices.Contains(rule.Resources, "leases") {
			t.Errorf("lease rule without leader election: %+v", rule)
		}
	}
	if args := strings.Join(only[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--leader-elect=false") || strings.Contains(args, "--leader-election-namespace") ||
		strings.Contains(args, "--shards") {
		t.Errorf("args %s", args)
	}
}

// TestRenderShardingOff: sharding.shards 0 keeps one applier, the Lease
// holder, and the Lease rules limited to its two Leases.
func TestRenderShardingOff(t *testing.T) {
	vals := minimal()
	vals["sharding"] = map[string]any{"shards": 0}
	r := mustRender(t, vals)
	if args := strings.Join(only[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0].Args, " "); strings.Contains(args, "--shards") {
		t.Errorf("--shards with sharding.shards 0: %s", args)
	}
	for _, rule := range only[*rbacv1.Role](t, r).Rules {
		if slices.Contains(rule.Resources, "leases") && len(rule.ResourceNames) == 0 && !slices.Equal(rule.Verbs, []string{"create"}) {
			t.Errorf("lease rule beyond the leader's Leases without sharding: %+v", rule)
		}
	}
}

// allVerbs are the verbs Helm and the informers may use on a store chart's
// objects.
var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// clusterRoles returns the chart's two ClusterRoles: the one bound
// cluster-wide and the store role, bound only in store namespaces.
func clusterRoles(t *testing.T, r rendered) (cluster, store *rbacv1.ClusterRole) {
	t.Helper()
	for _, o := range r.objects {
		if cr, ok := o.(*rbacv1.ClusterRole); ok {
			if strings.HasSuffix(cr.Name, "-store") {
				store = cr
			} else {
				cluster = cr
			}
		}
	}
	if cluster == nil || store == nil {
		t.Fatalf("want a cluster-wide ClusterRole and a store ClusterRole, got %v and %v", cluster, store)
	}
	for _, o := range r.objects {
		if b, ok := o.(*rbacv1.ClusterRoleBinding); ok && b.RoleRef.Name == store.Name {
			t.Errorf("ClusterRoleBinding %s binds the store role cluster-wide", b.Name)
		}
	}
	return cluster, store
}

// TestClusterRoleLeastPrivilege: no wildcard, no privilege-escalating
// verb, no RBAC beyond binding the store role, no pod-writing or
// cluster-infrastructure resource; cluster-wide, no write but namespaces
// and that one RoleBinding.
func TestClusterRoleLeastPrivilege(t *testing.T) {
	cluster, store := clusterRoles(t, mustRender(t, minimal()))
	for _, cr := range []*rbacv1.ClusterRole{cluster, store} {
		if cr.AggregationRule != nil {
			t.Errorf("%s: aggregation rule", cr.Name)
		}
		forbiddenVerbs := []string{"*", "escalate", "impersonate", "deletecollection", "approve", "sign"}
		forbiddenGroups := []string{"*", "admissionregistration.k8s.io", "apiextensions.k8s.io", "certificates.k8s.io", "authentication.k8s.io"}
		for _, rule := range cr.Rules {
			if len(rule.NonResourceURLs) > 0 {
				t.Errorf("non-resource URLs %v", rule.NonResourceURLs)
			}
			if slices.Contains(rule.APIGroups, "rbac.authorization.k8s.io") {
				// Only: create RoleBindings, bind the store role by name.
				ok := cr == cluster && (slices.Equal(rule.Resources, []string{"rolebindings"}) && slices.Equal(rule.Verbs, []string{"create"}) ||
					slices.Equal(rule.Resources, []string{"clusterroles"}) && slices.Equal(rule.Verbs, []string{"bind"}) && slices.Equal(rule.ResourceNames, []string{store.Name}))
				if !ok {
					t.Errorf("%s: RBAC rule %+v", cr.Name, rule)
				}
				continue
			}
			for _, v := range rule.Verbs {
				if slices.Contains(forbiddenVerbs, v) || v == "bind" {
					t.Errorf("%s: verb %q in %+v", cr.Name, v, rule)
				}
				if !slices.Contains(allVerbs, v) {
					t.Errorf("%s: unexpected verb %q", cr.Name, v)
				}
			}
			for _, g := range rule.APIGroups {
				if slices.Contains(forbiddenGroups, g) {
					t.Errorf("%s: API group %q in %+v", cr.Name, g, rule)
				}
			}
			for _, res := range rule.Resources {
				if strings.Contains(res, "*") || strings.Contains(res, "/") {
					t.Errorf("%s: resource %q (wildcard or subresource) in %+v", cr.Name, res, rule)
				}
				if slices.Contains([]string{"nodes", "serviceaccounts", "persistentvolumes"}, res) {
					t.Errorf("%s: resource %q must not be granted", cr.Name, res)
				}
				if res == "pods" && !isReadOnly(rule.Verbs) {
					t.Errorf("%s: pods are writable: %v", cr.Name, rule.Verbs)
				}
				if cr == cluster && res != "namespaces" && !isReadOnly(rule.Verbs) {
					t.Errorf("cluster-wide write on %s: %v", res, rule.Verbs)
				}
				if cr == cluster && res != "namespaces" && slices.Contains(rule.Verbs, "get") {
					t.Errorf("cluster-wide get on %s: only the informers' list and watch are needed", res)
				}
			}
		}
	}
}

func isReadOnly(verbs []string) bool {
	for _, v := range verbs {
		if v != "get" && v != "list" && v != "watch" {
			return false
		}
	}
	return true
}

// grants reports whether the ClusterRole allows verb on group/resource.
func grants(cr *rbacv1.ClusterRole, gr schema.GroupResource, verb string) bool {
	for _, r := range cr.Rules {
		if slices.Contains(r.APIGroups, gr.Group) && slices.Contains(r.Resources, gr.Resource) && slices.Contains(r.Verbs, verb) && len(r.ResourceNames) == 0 {
			return true
		}
	}
	return false
}

// storeChartKinds maps every kind a store chart may contain to its
// resource. A kind missing here fails the test: add it, and to the
// ClusterRole.
var storeChartKinds = map[string]schema.GroupResource{
	"Deployment":            {Group: "apps", Resource: "deployments"},
	"StatefulSet":           {Group: "apps", Resource: "statefulsets"},
	"Service":               {Resource: "services"},
	"PersistentVolumeClaim": {Resource: "persistentvolumeclaims"},
	"ConfigMap":             {Resource: "configmaps"},
	"Job":                   {Group: "batch", Resource: "jobs"},
	"CronJob":               {Group: "batch", Resource: "cronjobs"},
	"Ingress":               {Group: "networking.k8s.io", Resource: "ingresses"},
}

// TestClusterRoleCoversStoreCharts renders both store charts (hooks
// included, TLS on so that every optional template renders) and checks
// that the ClusterRole grants every verb Helm needs on every kind in them.
func TestClusterRoleCoversStoreCharts(t *testing.T) {
	cluster, cr := clusterRoles(t, mustRender(t, minimal()))
	seen := map[string]bool{}
	for _, typ := range charts.Types() {
		ch, err := charts.Load(typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, tls := range []string{"", "shop-tls"} {
			for _, k := range chartKinds(t, ch, map[string]any{"ingress": map[string]any{"tlsSecretName": tls}}) {
				seen[typ+" "+k] = true
				gr, ok := storeChartKinds[k]
				if !ok {
					t.Errorf("store chart %s contains a %s, unknown to this test and perhaps to the ClusterRole", typ, k)
					continue
				}
				for _, v := range allVerbs {
					if !grants(cr, gr, v) {
						t.Errorf("the store role does not grant %s on %s (in store chart %s)", v, gr, typ)
					}
				}
			}
		}
	}
	t.Logf("kinds in the store charts: %v", slices.Sorted(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	}))
	// What storeops writes itself in a store namespace, besides Helm.
	for gr, verbs := range map[schema.GroupResource][]string{
		{Resource: "resourcequotas"}:                              {"get", "create", "update"},
		{Resource: "limitranges"}:                                 {"get", "create", "update"},
		{Group: "networking.k8s.io", Resource: "networkpolicies"}: {"get", "create", "update"},
		{Resource: "secrets"}:                                     {"get", "list", "watch", "create", "update", "delete"},
		{Resource: "pods"}:                                        {"list"},
		{Resource: "events"}:                                      {"list"},
		{Group: "events.k8s.io", Resource: "events"}:              {"create", "patch"},
	} {
		for _, v := range verbs {
			if !grants(cr, gr, v) {
				t.Errorf("the store role does not grant %s on %s", v, gr)
			}
		}
	}
	// Cluster-wide: namespaces, and the informers of reconcile/observe.go,
	// Secrets excepted: they are read per store namespace, through the
	// store role (reconcile/observe_secrets.go), never across the cluster.
	informers := []schema.GroupResource{{Resource: "resourcequotas"}, {Resource: "limitranges"},
		{Resource: "services"}, {Resource: "persistentvolumeclaims"}, {Group: "networking.k8s.io", Resource: "networkpolicies"},
		{Group: "networking.k8s.io", Resource: "ingresses"}, {Group: "apps", Resource: "deployments"},
		{Group: "apps", Resource: "statefulsets"}, {Group: "batch", Resource: "jobs"}}
	for _, gr := range informers {
		for _, v := range []string{"list", "watch"} {
			if !grants(cluster, gr, v) {
				t.Errorf("the cluster-wide ClusterRole does not grant %s on %s (informer)", v, gr)
			}
		}
	}
	for _, v := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"} {
		if grants(cluster, schema.GroupResource{Resource: "secrets"}, v) {
			t.Errorf("the cluster-wide ClusterRole grants %s on secrets: every Secret of the cluster", v)
		}
	}
	for _, v := range []string{"get", "list", "watch", "create", "update", "delete"} {
		if !grants(cluster, schema.GroupResource{Resource: "namespaces"}, v) {
			t.Errorf("the cluster-wide ClusterRole does not grant %s on namespaces", v)
		}
	}
}

// chartKinds renders a chart with its defaults plus vals and returns the
// kinds of its objects, hooks included.
func chartKinds(t *testing.T, ch *chart.Chart, vals map[string]any) []string {
	t.Helper()
	merged, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "shop", Namespace: "store-shop", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatalf("%s values: %v", ch.Name(), err)
	}
	files, err := engine.Render(ch, merged)
	if err != nil {
		t.Fatalf("render %s: %v", ch.Name(), err)
	}
	var out []string
	for name, body := range files {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, doc := range releaseutil.SplitManifests(body) {
			var head struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if head.Kind != "" {
				out = append(out, head.Kind)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("store chart %s rendered nothing", ch.Name())
	}
	return out
}
