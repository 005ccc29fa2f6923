package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/yaml"
)

// The charts' Jobs bound two of storeops' timeouts:
//
//   - Helm waits for a chart's hook Jobs inside each install or upgrade (one
//     after the other). An operation whose timeout is shorter than those
//     Jobs' deadlines fails a slow but healthy first boot. So the Helm
//     timeout is the sum of the activeDeadlineSeconds of every hook Job of
//     the slowest chart, plus jobMargin; never less than MinHelmTimeout.
//     (The store charts run their setup as ordinary Jobs, not hooks, so Helm
//     waits for none and the minimum applies.)
//   - A store is Ready only once its setup Job has completed, so a revision
//     must be given at least the longest Job deadline, plus jobMargin,
//     before it counts as never Ready (ReadyTimeout).
//
// docs/timeouts.md explains the relations.
const (
	MinHelmTimeout = 5 * time.Minute
	jobMargin      = 2 * time.Minute
)

// Deadlines are what the charts' Jobs imply for storeops' timeouts.
type Deadlines struct {
	// Helm is the smallest safe timeout of a Helm operation.
	Helm time.Duration
	// Ready is the smallest safe ReadyTimeout.
	Ready time.Duration
}

// HelmTimeout returns the timeout Helm operations need for the charts of
// src (see above).
func HelmTimeout(src ChartSource) (time.Duration, error) {
	d, err := ChartDeadlines(src)
	return d.Helm, err
}

// ChartDeadlines renders every chart of src (no cluster) and derives the
// timeouts its Jobs need.
func ChartDeadlines(src ChartSource) (Deadlines, error) {
	var hooks, longest time.Duration
	for _, t := range render.Types {
		h, l, err := jobDeadlines(src, t)
		if err != nil {
			return Deadlines{}, err
		}
		hooks, longest = max(hooks, h), max(longest, l)
	}
	d := Deadlines{Helm: MinHelmTimeout}
	if hooks > 0 {
		d.Helm = max(MinHelmTimeout, hooks+jobMargin)
	}
	if longest > 0 {
		d.Ready = longest + jobMargin
	}
	return d, nil
}

// jobDeadlines renders the chart of t for a store of the default plan and
// returns the sum of its hook Jobs' deadlines and the longest deadline of
// any of its Jobs.
func jobDeadlines(src ChartSource, t render.Type) (hooks, longest time.Duration, err error) {
	cfg, err := render.Parse("timeout.yaml", []byte("stores:\n  - {name: timeout, type: "+string(t)+"}\n"), render.Limits{})
	if err != nil {
		return 0, 0, err
	}
	rel, err := RenderRelease(src, &render.Render(cfg)[0])
	if err != nil {
		return 0, 0, fmt.Errorf("render chart %s for its Job deadlines: %w", t, err)
	}
	deadline := func(name, manifest string) (time.Duration, bool, error) {
		var job struct {
			Kind string `json:"kind"`
			Spec struct {
				ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(manifest), &job); err != nil {
			return 0, false, fmt.Errorf("chart %s %s: %w", t, name, err)
		}
		if job.Kind != "Job" {
			return 0, false, nil
		}
		if job.Spec.ActiveDeadlineSeconds == nil {
			return 0, true, fmt.Errorf("chart %s: Job %s has no activeDeadlineSeconds, so no timeout can cover it", t, name)
		}
		return time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second, true, nil
	}
	for _, h := range rel.Hooks {
		d, isJob, err := deadline(h.Name, h.Manifest)
		if err != nil {
			return 0, 0, err
		}
		if isJob {
			hooks += d
			longest = max(longest, d)
		}
	}
	for i, doc := range strings.Split(rel.Manifest, "\n---") {
		d, _, err := deadline(fmt.Sprintf("manifest document %d", i), doc)
		if err != nil {
			return 0, 0, err
		}
		longest = max(longest, d)
	}
	return hooks, longest, nil
}

// RenderRelease renders the chart of d's store type with d's values, as
// an install would, without a cluster: the release's manifest and hooks.
func RenderRelease(src ChartSource, d *render.Desired) (*release.Release, error) {
	ch, err := src.Chart(d.Store.Type)
	if err != nil {
		return nil, err
	}
	return renderClientOnly(context.Background(), ch, d, chartutil.KubeVersion{Version: "v1.36.0", Major: "1", Minor: "36"}, nil, nil)
}

// renderClientOnly renders ch with d's values as Helm's install does
// (values, schema, templates, install order) for a cluster of the given
// version and API groups, without a request: the release, with labels.
func renderClientOnly(ctx context.Context, ch *chart.Chart, d *render.Desired, kube chartutil.KubeVersion, apiVersions []string, labels map[string]string) (*release.Release, error) {
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.DryRun, in.ClientOnly = true, true
	in.ReleaseName, in.Namespace = d.Release.Name, d.Namespace.Name
	in.KubeVersion, in.APIVersions, in.Labels = &kube, apiVersions, labels
	return in.RunWithContext(ctx, ch, d.Release.Values)
}
