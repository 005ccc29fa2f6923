package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/storeops/storeops/internal/preview"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web/dashboard"
)

// TestProposalsShowPlanPreviews: the proposals page shows, next to each
// open pull request, the plan storeops commented on it: the changes, the
// file's located errors, the guard's refusal in red; all escaped.
func TestProposalsShowPlanPreviews(t *testing.T) {
	board := reconcile.NewBoard()
	board.Publish(sampleSnapshot())
	h, err := dashboard.New(dashboard.Config{Board: board, Proposer: successProposer(t), Auth: dashboard.Auth{Tokens: map[string]string{apiToken: "robot"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.SetPreviews(func() []preview.Preview {
		return []preview.Preview{
			{Number: 9, Revision: "5dd6d03458f0c8b5e0d3", Changes: []string{"install delta (woocommerce, small, delta.example.com)", xss}},
			{Number: 7, Revision: "94429859f127a1b2c3d4", Errors: []string{"stores.yaml:6:11: stores[1].plan: unknown plan \"huge\""}},
			{Number: 5, Revision: "0123456789abcdef0123", Refused: "refusing to delete 2 of 2 stores (a, b)"},
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/proposals", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken) // the page needs a login
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d:\n%s", resp.StatusCode, page)
	}
	wantIn(t, "proposals", page, "<th>Plan</th>",
		"<li>install delta (woocommerce, small, delta.example.com)</li>", "at 5dd6d03",
		`<p class="error-text">stores.yaml is invalid:</p>`, "<code>stores.yaml:6:11: stores[1].plan: unknown plan &#34;huge&#34;</code>",
		`<p class="error-text">Refused by the mass-deletion guard: refusing to delete 2 of 2 stores (a, b)</p>`)
	wantNotIn(t, "proposals", page, xss)
}
