package reconcile

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// LabelGitRevision is the Helm release label recording the stores.yaml
// revision a release was made from.
const LabelGitRevision = "storeops.dev/revision"

type decodedRelease struct {
	resourceVersion string
	info            *ReleaseInfo
	manifest        *parsedManifest
}

// manifestObject is the part of a release object that drift detection
// compares.
type manifestObject struct {
	Kind, Name, Namespace string
	replicas              *int32
	images                []string // nil: not a pod template
}

type parsedManifest struct{ objects []manifestObject }

// decodeReleaseSecret reads a Helm storage Secret: base64, then gzip, then
// JSON, as Helm's secret driver writes it.
func decodeReleaseSecret(sec *corev1.Secret) decodedRelease {
	d := decodedRelease{resourceVersion: sec.ResourceVersion}
	rel, err := decodeRelease(sec.Data["release"])
	if err != nil || rel.Info == nil {
		return d
	}
	info := &ReleaseInfo{
		Name:        rel.Name,
		Revision:    rel.Version,
		Status:      rel.Info.Status.String(),
		Values:      rel.Config,
		GitRevision: sec.Labels[LabelGitRevision],
		Instance:    sec.Labels[LabelInstance],
		Updated:     rel.Info.LastDeployed.Time,
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		info.ChartName, info.ChartVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version
	}
	if rel.Config != nil {
		info.ValuesChecksum = render.Checksum(rel.Config)
	}
	d.info = info
	d.manifest = parseManifest(rel.Manifest)
	return d
}

func decodeRelease(data []byte) (*release.Release, error) {
	b, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return nil, err
	}
	if len(b) > 3 && bytes.Equal(b[:3], []byte{0x1f, 0x8b, 0x08}) {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if b, err = io.ReadAll(io.LimitReader(r, 64<<20)); err != nil {
			return nil, err
		}
	}
	var rel release.Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return nil, err
	}
	return &rel, nil
}

// parseManifest reads the kinds, names, replicas and images of a release's
// rendered manifest.
func parseManifest(manifest string) *parsedManifest {
	m := &parsedManifest{}
	for _, doc := range strings.Split(manifest, "\n---") {
		var obj struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				Replicas *int32
				Template *struct {
					Spec corev1.PodSpec
				}
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind == "" {
			continue
		}
		mo := manifestObject{Kind: obj.Kind, Name: obj.Metadata.Name, Namespace: obj.Metadata.Namespace, replicas: obj.Spec.Replicas}
		if obj.Spec.Template != nil {
			mo.images = containerImages(obj.Spec.Template.Spec)
		}
		m.objects = append(m.objects, mo)
	}
	return m
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
