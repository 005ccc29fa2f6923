package reconcile

import (
	"fmt"
	"time"

	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// Helm waits for a chart's hook Jobs inside each install or upgrade (one
// after the other: a pre-upgrade migration, then the post-install setup).
// An operation whose timeout is shorter than those Jobs' deadlines fails a
// slow but healthy first boot, which the next sync would then remediate.
// So the timeout is derived from the charts: the sum of the
// activeDeadlineSeconds of every hook Job of the slowest chart, plus
// hookMargin for Helm's own work; never less than MinHelmTimeout.
// docs/timeouts.md explains the relation with --ready-timeout.
const (
	MinHelmTimeout = 5 * time.Minute
	hookMargin     = 2 * time.Minute
)

// HelmTimeout returns the timeout Helm operations need for the charts of
// src (see above).
func HelmTimeout(src ChartSource) (time.Duration, error) {
	longest := time.Duration(0)
	for _, t := range render.Types {
		d, err := hookDeadlines(src, t)
		if err != nil {
			return 0, err
		}
		longest = max(longest, d)
	}
	return max(MinHelmTimeout, longest+hookMargin), nil
}

// hookDeadlines renders the chart of t for a store of the default plan
// (no cluster) and sums the deadlines of its hook Jobs.
func hookDeadlines(src ChartSource, t render.Type) (time.Duration, error) {
	ch, err := src.Chart(t)
	if err != nil {
		return 0, err
	}
	cfg, err := render.Parse("timeout.yaml", []byte("stores:\n  - {name: timeout, type: "+string(t)+"}\n"), render.Limits{})
	if err != nil {
		return 0, err
	}
	values := render.Render(cfg)[0].Release.Values
	in := action.NewInstall(&action.Configuration{})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "timeout", "timeout"
	in.KubeVersion = &chartutil.KubeVersion{Version: "v1.36.0", Major: "1", Minor: "36"}
	rel, err := in.Run(ch, values)
	if err != nil {
		return 0, fmt.Errorf("render chart %s for its hook deadlines: %w", t, err)
	}
	var total time.Duration
	for _, h := range rel.Hooks {
		if h.Kind != "Job" {
			continue
		}
		var job struct {
			Spec struct {
				ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(h.Manifest), &job); err != nil {
			return 0, fmt.Errorf("chart %s hook %s: %w", t, h.Name, err)
		}
		if job.Spec.ActiveDeadlineSeconds == nil {
			return 0, fmt.Errorf("chart %s: hook Job %s has no activeDeadlineSeconds, so no Helm timeout can cover it", t, h.Name)
		}
		total += time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second
	}
	return total, nil
}
