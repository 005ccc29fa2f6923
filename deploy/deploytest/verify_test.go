package deploytest

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestRenderVerifySignatures: git.verifySignatures mounts the keyring of
// a ConfigMap or a Secret read-only and passes --verify-signatures;
// without it nothing is verified.
func TestRenderVerifySignatures(t *testing.T) {
	const flag = "--verify-signatures=/etc/storeops/trusted-keys/keys.asc"
	d := only[*appsv1.Deployment](t, mustRender(t, minimal()))
	if slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Args, func(a string) bool { return strings.HasPrefix(a, "--verify-signatures") }) {
		t.Fatal("the defaults verify signatures")
	}
	for name, tc := range map[string]struct {
		keys  map[string]any
		check func(v corev1.Volume) bool
	}{
		"configMap": {map[string]any{"configMap": "trusted-keys", "key": "release.asc"}, func(v corev1.Volume) bool {
			return v.ConfigMap != nil && v.ConfigMap.Name == "trusted-keys" &&
				len(v.ConfigMap.Items) == 1 && v.ConfigMap.Items[0].Key == "release.asc" && v.ConfigMap.Items[0].Path == "keys.asc"
		}},
		"secret": {map[string]any{"secret": "trusted-keys"}, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "trusted-keys" &&
				len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == "keys.asc" && v.Secret.Items[0].Path == "keys.asc"
		}},
	} {
		t.Run(name, func(t *testing.T) {
			vals := minimal()
			vals["git"].(map[string]any)["verifySignatures"] = tc.keys
			spec := only[*appsv1.Deployment](t, mustRender(t, vals)).Spec.Template.Spec
			c := spec.Containers[0]
			if !slices.Contains(c.Args, flag) {
				t.Errorf("args lack %s: %q", flag, c.Args)
			}
			i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "trusted-keys" })
			if i < 0 || c.VolumeMounts[i].MountPath != "/etc/storeops/trusted-keys" || !c.VolumeMounts[i].ReadOnly {
				t.Errorf("volume mounts %+v", c.VolumeMounts)
			}
			j := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "trusted-keys" })
			if j < 0 || !tc.check(spec.Volumes[j]) {
				t.Errorf("volumes %+v", spec.Volumes)
			}
		})
	}
	vals := minimal()
	vals["git"].(map[string]any)["verifySignatures"] = map[string]any{"configMap": "a", "secret": "b"}
	if _, err := render(t, "storeops-system", vals); err == nil || !strings.Contains(err.Error(), "give configMap or secret, not both") {
		t.Fatalf("both a ConfigMap and a Secret: %v", err)
	}
}
