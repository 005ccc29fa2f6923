package reconcile

import (
	"crypto/rand"

	"github.com/storeops/storeops/charts"
	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/chart"
)

// ChartSource gives the chart of a store type and makes new credentials
// for it.
type ChartSource interface {
	Chart(t render.Type) (*chart.Chart, error)
	// NewCredentials returns fresh values for every key of the store
	// type's credentials Secret.
	NewCredentials(t render.Type) (map[string][]byte, error)
}

// EmbeddedCharts is the ChartSource of the charts built into storeops.
type EmbeddedCharts struct{}

var _ ChartSource = EmbeddedCharts{}

// Chart loads the embedded chart of t.
func (EmbeddedCharts) Chart(t render.Type) (*chart.Chart, error) { return charts.Load(string(t)) }

// NewCredentials generates each key in its format with crypto/rand.
func (EmbeddedCharts) NewCredentials(t render.Type) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, spec := range charts.SecretKeySpecs(string(t)) {
		v, err := spec.Generate(rand.Reader)
		if err != nil {
			return nil, err
		}
		out[spec.Key] = []byte(v)
	}
	return out, nil
}

// ChartVersions returns the version of every embedded chart.
func (e EmbeddedCharts) ChartVersions() (map[render.Type]string, error) {
	out := map[render.Type]string{}
	for _, t := range render.Types {
		c, err := e.Chart(t)
		if err != nil {
			return nil, err
		}
		out[t] = c.Metadata.Version
	}
	return out, nil
}
