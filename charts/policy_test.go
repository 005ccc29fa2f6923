package charts_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/storeops/storeops/charts"
)

// The `small` plan's ResourceQuota and LimitRange figures.
var (
	smallQuota = corev1.ResourceList{
		corev1.ResourcePods:                   resource.MustParse("20"),
		corev1.ResourceRequestsCPU:            resource.MustParse("2"),
		corev1.ResourceRequestsMemory:         resource.MustParse("4Gi"),
		corev1.ResourceLimitsCPU:              resource.MustParse("4"),
		corev1.ResourceLimitsMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePersistentVolumeClaims: resource.MustParse("5"),
		corev1.ResourceRequestsStorage:        resource.MustParse("20Gi"),
	}
	smallMax = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("4Gi"),
	}
)

// workload is a pod template with how many pods of it may run at once during
// an upgrade.
type workload struct {
	name string
	pod  corev1.PodSpec
	pods int64
}

// workloads decodes the pod-bearing objects of the rendered manifests.
func workloads(t *testing.T, objs []object) (ws []workload, claims []corev1.PersistentVolumeClaim) {
	t.Helper()
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		switch o["kind"] {
		case "Deployment":
			var d appsv1.Deployment
			mustUnmarshal(t, data, &d)
			n := int64(1)
			if d.Spec.Replicas != nil {
				n = int64(*d.Spec.Replicas)
			}
			// A rolling update runs maxSurge extra pods (25% rounded up by default).
			surge := int64(0)
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				s := intstr.FromString("25%")
				if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
					s = *ru.MaxSurge
				}
				v, err := intstr.GetScaledValueFromIntOrPercent(&s, int(n), true)
				if err != nil {
					t.Fatal(err)
				}
				surge = int64(v)
			}
			ws = append(ws, workload{"Deployment/" + d.Name, d.Spec.Template.Spec, n + surge})
		case "StatefulSet":
			var s appsv1.StatefulSet
			mustUnmarshal(t, data, &s)
			n := int64(1)
			if s.Spec.Replicas != nil {
				n = int64(*s.Spec.Replicas)
			}
			// The pods get a volume for each claim template, as the controller adds it.
			pod := *s.Spec.Template.Spec.DeepCopy()
			for _, vct := range s.Spec.VolumeClaimTemplates {
				pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vct.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vct.Name + "-" + s.Name + "-0"},
				}})
			}
			ws = append(ws, workload{"StatefulSet/" + s.Name, pod, n})
			for i := int64(0); i < n; i++ {
				claims = append(claims, s.Spec.VolumeClaimTemplates...)
			}
		case "Job":
			var j batchv1.Job
			mustUnmarshal(t, data, &j)
			ws = append(ws, workload{"Job/" + j.Name, j.Spec.Template.Spec, 1})
		case "CronJob":
			// concurrencyPolicy Forbid: one Job of it at a time.
			var j batchv1.CronJob
			mustUnmarshal(t, data, &j)
			if j.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("CronJob %s: concurrencyPolicy %q, want Forbid", j.Name, j.Spec.ConcurrencyPolicy)
			}
			ws = append(ws, workload{"CronJob/" + j.Name, j.Spec.JobTemplate.Spec.Template.Spec, 1})
		case "PersistentVolumeClaim":
			var c corev1.PersistentVolumeClaim
			mustUnmarshal(t, data, &c)
			claims = append(claims, c)
		}
	}
	return ws, claims
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
}

// podResources is what a pod counts against a quota: the larger of its
// containers' sum and its largest init container.
func podResources(p corev1.PodSpec) (requests, limits corev1.ResourceList) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Containers {
		addTo(requests, c.Resources.Requests)
		addTo(limits, c.Resources.Limits)
	}
	for _, c := range p.InitContainers {
		maxTo(requests, c.Resources.Requests)
		maxTo(limits, c.Resources.Limits)
	}
	return requests, limits
}

func addTo(dst, src corev1.ResourceList) {
	for k, v := range src {
		q := dst[k]
		q.Add(v)
		dst[k] = q
	}
}

func maxTo(dst, src corev1.ResourceList) {
	for k, v := range src {
		if q, ok := dst[k]; !ok || v.Cmp(q) > 0 {
			dst[k] = v.DeepCopy()
		}
	}
}

func valueSets(t *testing.T, typ string) map[string]map[string]any {
	return map[string]map[string]any{
		"default": storeValues("shop"),
		"prod":    merge(prodValues(t, typ), storeValues("shop")),
	}
}

// TestFitsSmallPlan checks that every replica, every Job and one surge pod per
// rolling Deployment, all at once, stay inside the small plan, and that each
// container declares requests and limits within the LimitRange.
func TestFitsSmallPlan(t *testing.T) {
	for _, typ := range charts.Types() {
		for variant, vals := range valueSets(t, typ) {
			t.Run(typ+"/"+variant, func(t *testing.T) {
				ws, claims := workloads(t, objects(t, render(t, typ, "shop", vals)))
				used := corev1.ResourceList{}
				for _, w := range ws {
					for _, c := range append(slices.Clone(w.pod.InitContainers), w.pod.Containers...) {
						for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
							req, okReq := c.Resources.Requests[r]
							lim, okLim := c.Resources.Limits[r]
							if !okReq || !okLim {
								t.Errorf("%s container %s: no %s request and limit", w.name, c.Name, r)
								continue
							}
							if maxQ := smallMax[r]; req.Cmp(lim) > 0 || lim.Cmp(maxQ) > 0 {
								t.Errorf("%s container %s: %s request %s limit %s (max %s)", w.name, c.Name, r, req.String(), lim.String(), maxQ.String())
							}
						}
					}
					req, lim := podResources(w.pod)
					for i := int64(0); i < w.pods; i++ {
						addTo(used, corev1.ResourceList{
							corev1.ResourcePods:           resource.MustParse("1"),
							corev1.ResourceRequestsCPU:    req[corev1.ResourceCPU],
							corev1.ResourceRequestsMemory: req[corev1.ResourceMemory],
							corev1.ResourceLimitsCPU:      lim[corev1.ResourceCPU],
							corev1.ResourceLimitsMemory:   lim[corev1.ResourceMemory],
						})
					}
				}
				for _, c := range claims {
					addTo(used, corev1.ResourceList{
						corev1.ResourcePersistentVolumeClaims: resource.MustParse("1"),
						corev1.ResourceRequestsStorage:        c.Spec.Resources.Requests[corev1.ResourceStorage],
					})
				}
				var report []string
				for name, hard := range smallQuota {
					u := used[name]
					report = append(report, fmt.Sprintf("%s %s/%s", name, u.String(), hard.String()))
					if u.Cmp(hard) > 0 {
						t.Errorf("%s: %s exceeds the small plan's %s", name, u.String(), hard.String())
					}
				}
				slices.Sort(report)
				t.Logf("worst case: %s", strings.Join(report, ", "))
			})
		}
	}
}

// TestHardened checks the security settings of every pod and Service.
func TestHardened(t *testing.T) {
	for _, typ := range charts.Types() {
		objs := objects(t, render(t, typ, "shop", storeValues("shop")))
		ws, _ := workloads(t, objs)
		for _, w := range ws {
			p := w.pod
			sc := p.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.FSGroup == nil ||
				sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: pod security context %+v", w.name, sc)
			}
			if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
				t.Errorf("%s: service account token mounted", w.name)
			}
			for _, c := range append(slices.Clone(p.InitContainers), p.Containers...) {
				csc := c.SecurityContext
				if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
					(csc.Privileged != nil && *csc.Privileged) || csc.Capabilities == nil ||
					!slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
					t.Errorf("%s container %s: security context %+v", w.name, c.Name, csc)
				}
				if !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
					t.Errorf("%s container %s: image %q is not pinned", w.name, c.Name, c.Image)
				}
			}
		}
		for _, o := range objs {
			if o["kind"] == "Service" {
				spec, _ := o["spec"].(map[string]any)
				if spec["type"] != "ClusterIP" {
					t.Errorf("%s: Service %v is %v, want ClusterIP", typ, o["metadata"], spec["type"])
				}
			}
		}
	}
}

// TestCredentialsFromSecret checks that the charts create no Secret, that every
// credential comes from existingSecret by one of SecretKeys, that every key is
// used, and that credentials reach containers only as files: no environment
// variable from the Secret (they leak into process listings, crash dumps and
// child processes) and no password on a command line.
func TestCredentialsFromSecret(t *testing.T) {
	for _, typ := range charts.Types() {
		vals := storeValues("shop")
		objs := objects(t, render(t, typ, "shop", vals))
		used := map[string]bool{}
		ws, _ := workloads(t, objs)
		for _, o := range objs {
			if o["kind"] == "Secret" {
				t.Errorf("%s: chart renders a Secret %v", typ, o["metadata"])
			}
			if o["kind"] == "ConfigMap" {
				data, _ := o["data"].(map[string]any)
				for name, v := range data {
					if text, _ := v.(string); passwordFlag.MatchString(text) {
						t.Errorf("%s: ConfigMap %v %s passes a password on a command line: %s", typ, o["metadata"], name, passwordFlag.FindString(text))
					}
				}
			}
		}
		for _, w := range ws {
			for _, v := range w.pod.Volumes {
				if v.Secret == nil {
					continue
				}
				if v.Secret.SecretName != vals["existingSecret"] || (v.Secret.Optional != nil && *v.Secret.Optional) {
					t.Errorf("%s %s: volume %s from Secret %q (optional %v)", typ, w.name, v.Name, v.Secret.SecretName, v.Secret.Optional)
				}
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0 {
					t.Errorf("%s %s: volume %s: files readable by others (mode %v)", typ, w.name, v.Name, v.Secret.DefaultMode)
				}
				if len(v.Secret.Items) == 0 {
					t.Errorf("%s %s: volume %s mounts every key; list the ones the pod needs", typ, w.name, v.Name)
				}
				for _, it := range v.Secret.Items {
					if !slices.Contains(charts.SecretKeys(typ), it.Key) {
						t.Errorf("%s %s: volume %s has unknown key %q", typ, w.name, v.Name, it.Key)
					}
					used[it.Key] = true
				}
			}
			for _, c := range append(slices.Clone(w.pod.InitContainers), w.pod.Containers...) {
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						t.Errorf("%s %s container %s: %s from Secret key %q: credentials must be files (*_FILE)", typ, w.name, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Key)
					}
				}
				for _, ef := range c.EnvFrom {
					if ef.SecretRef != nil {
						t.Errorf("%s %s container %s: environment from Secret %q", typ, w.name, c.Name, ef.SecretRef.Name)
					}
				}
				line := strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
				if passwordFlag.MatchString(line) || envExpansion.MatchString(line) {
					t.Errorf("%s %s container %s: credentials on the command line: %q", typ, w.name, c.Name, line)
				}
			}
		}
		for _, k := range charts.SecretKeys(typ) {
			if !used[k] {
				t.Errorf("%s: key %s of SecretKeys is not used", typ, k)
			}
		}
	}
}

var (
	// passwordFlag matches command-line options that carry a password.
	passwordFlag = regexp.MustCompile(`--(admin_password|requirepass|password|dbpass)[= ]`)
	// envExpansion is Kubernetes' $(VAR) expansion in command and args: it
	// puts a variable's value on the command line.
	envExpansion = regexp.MustCompile(`\$\([A-Za-z_][A-Za-z0-9_]*\)`)
)
