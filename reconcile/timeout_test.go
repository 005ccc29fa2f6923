package reconcile_test

import (
	"testing"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/chart"
)

// hookCharts serves the embedded charts with one post-install hook Job of
// the given deadline added to each.
type hookCharts struct {
	reconcile.EmbeddedCharts
	deadline string // "" for a Job without activeDeadlineSeconds
}

func (h hookCharts) Chart(t render.Type) (*chart.Chart, error) {
	c, err := h.EmbeddedCharts.Chart(t)
	if err != nil {
		return nil, err
	}
	spec := "  template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}\n"
	if h.deadline != "" {
		spec = "  activeDeadlineSeconds: " + h.deadline + "\n" + spec
	}
	c.Templates = append(c.Templates, &chart.File{Name: "templates/hook.yaml", Data: []byte(
		"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hook\n  annotations: {helm.sh/hook: post-install}\nspec:\n" + spec)})
	return c, nil
}

func TestHelmTimeout(t *testing.T) {
	// The store charts run their setup as ordinary Jobs, not hooks: Helm
	// waits for nothing, and the minimum applies.
	got, err := reconcile.HelmTimeout(reconcile.EmbeddedCharts{})
	if err != nil || got != reconcile.MinHelmTimeout {
		t.Fatalf("embedded charts: %v, %v; want %v (no hook Job)", got, err, reconcile.MinHelmTimeout)
	}
	// A hook Job Helm waits for: its deadline plus the margin.
	got, err = reconcile.HelmTimeout(hookCharts{deadline: "900"})
	if err != nil || got != 17*time.Minute {
		t.Fatalf("a 900 s hook: %v, %v; want 17m", got, err)
	}
	if _, err := reconcile.HelmTimeout(hookCharts{}); err == nil {
		t.Fatal("a hook Job without a deadline was accepted")
	}
	// The setup Jobs (900 s) bound how long a revision may take to be Ready.
	d, err := reconcile.ChartDeadlines(reconcile.EmbeddedCharts{})
	if err != nil || d.Ready != 17*time.Minute {
		t.Fatalf("ChartDeadlines: %+v, %v; want Ready 17m", d, err)
	}
}
