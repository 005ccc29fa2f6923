package deploytest

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestRenderForgeFeedback: with a forge, the chart passes the commit
// status and plan preview flags, and links statuses to the Ingress's host
// unless forge.dashboardURL says otherwise.
func TestRenderForgeFeedback(t *testing.T) {
	args := func(vals map[string]any) string {
		d := only[*appsv1.Deployment](t, mustRender(t, vals))
		return strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	}
	got := args(complete())
	for _, want := range []string{"--commit-status=true", "--pr-preview=true", "--pr-preview-interval=2m", "--dashboard-url=https://storeops.example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q: %s", want, got)
		}
	}
	vals := complete()
	vals["forge"].(map[string]any)["dashboardURL"] = "https://ops.example.com/storeops"
	vals["forge"].(map[string]any)["prPreview"] = false
	if got := args(vals); !strings.Contains(got, "--dashboard-url=https://ops.example.com/storeops") || !strings.Contains(got, "--pr-preview=false") {
		t.Errorf("explicit values: %s", got)
	}
	if got := args(minimal()); strings.Contains(got, "--commit-status") || strings.Contains(got, "--dashboard-url") {
		t.Errorf("without a forge: %s", got)
	}
}
