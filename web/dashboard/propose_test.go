package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/render"
)

func TestCreateStore(t *testing.T) {
	fileErr := render.ErrorList{
		{File: "stores.yaml", Line: 40, Column: 3, Field: "stores", Msg: "at most 50 stores " + xss},
		{File: "stores.yaml", Line: 41, Column: 5, Field: "stores[50].domain", Msg: "domain shop.example.com is used by alpha"},
	}
	for _, tc := range []struct {
		name   string
		form   []string
		result func(render.NewStore) (proposals.Proposal, error)
		status int
		want   []string
		calls  int
	}{
		{name: "invalid fields are checked before the forge",
			form: []string{"name", "Bad_Name", "type", "shopify", "adminEmail", "not-an-email"}, status: http.StatusUnprocessableEntity,
			want: []string{`<p class="field-error" id="name-error">`, `id="type-error"`, `id="adminEmail-error"`, `aria-invalid="true"`,
				`value="Bad_Name"`, `value="not-an-email"`}},
		{name: "field errors from the proposer",
			form: []string{"name", "alpha", "type", "woocommerce", "domain", "alpha.shops.example.com"},
			result: func(render.NewStore) (proposals.Proposal, error) {
				return proposals.Proposal{}, fmt.Errorf("propose: %w", render.FieldErrors{"name": `a store named "alpha" already exists (line 12)`, "domain": "is taken " + xss})
			},
			status: http.StatusUnprocessableEntity, calls: 1,
			want: []string{`id="name-error">a store named &#34;alpha&#34; already exists (line 12)</p>`, `id="domain-error">is taken &lt;script&gt;`,
				`value="alpha.shops.example.com"`}},
		{name: "file errors from the proposer",
			form: []string{"name", "delta", "type", "medusa", "plan", "large"},
			result: func(render.NewStore) (proposals.Proposal, error) {
				return proposals.Proposal{}, fmt.Errorf("validate: %w", fileErr)
			},
			status: http.StatusUnprocessableEntity, calls: 1,
			want: []string{`id="file-errors"`, "<li><code>stores.yaml:40:3: stores: at most 50 stores &lt;script&gt;", "stores.yaml:41:5: stores[50].domain: domain shop.example.com is used by alpha",
				`<option value="large" selected>`, `<option value="medusa" selected>`}},
		{name: "success",
			form: []string{"name", "delta", "type", "medusa", "plan", "small", "adminEmail", "ops@example.com", "domain", "delta.example.com"},
			result: func(s render.NewStore) (proposals.Proposal, error) {
				want := render.NewStore{Name: "delta", Type: "medusa", Plan: "small", AdminEmail: "ops@example.com", Domain: "delta.example.com"}
				if s != want {
					return proposals.Proposal{}, fmt.Errorf("got %+v, want %+v", s, want)
				}
				return prFor(proposals.KindCreate, "delta", 41), nil
			},
			status: http.StatusOK, calls: 1,
			want: []string{"Pull request opened", `id="pr-link" href="https://git.example.com/shops/stores/pulls/41"`, "#41 create store delta",
				"storeops/add-delta", "to create <strong>delta</strong>"}},
		{name: "already proposed",
			form: []string{"name", "delta", "type", "medusa"},
			result: func(render.NewStore) (proposals.Proposal, error) {
				p := prFor(proposals.KindCreate, "delta", 40)
				p.Existing = true
				return p, nil
			},
			status: http.StatusOK, calls: 1,
			want: []string{"Already proposed", `href="https://git.example.com/shops/stores/pulls/40"`}},
		{name: "forge failure",
			form: []string{"name", "delta", "type", "medusa"},
			result: func(render.NewStore) (proposals.Proposal, error) {
				return proposals.Proposal{}, errors.New("push: 401 token ghp_secret")
			},
			status: http.StatusBadGateway, calls: 1,
			want: []string{"The pull request could not be opened", `value="delta"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			e.proposer.CreateFn = func(_ context.Context, s render.NewStore, user string) (proposals.Proposal, error) {
				if user != "alice" {
					t.Errorf("user %q", user)
				}
				return tc.result(s)
			}
			e.login()
			r := e.post("/new-store", form(append([]string{"csrf", e.csrf("/new-store")}, tc.form...)...))
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			wantIn(t, tc.name, r.body, tc.want...)
			wantNotIn(t, tc.name, r.body, xss, "ghp_secret")
			if got := len(e.proposer.Calls()); got != tc.calls {
				t.Errorf("%d proposer calls, want %d", got, tc.calls)
			}
		})
	}
}

func TestDeleteStore(t *testing.T) {
	e := start(t, nil)
	e.login()
	page := e.get("/stores/gamma")
	wantIn(t, "store page", page.body, `action="/stores/gamma/delete"`, "Type <strong>gamma</strong> to confirm", "Propose deletion")
	tok := csrfRE.FindStringSubmatch(page.body)[1]

	for _, typed := range []string{"", "gama", "GAMMA", "alpha"} {
		r := e.post("/stores/gamma/delete", form("csrf", tok, "confirm", typed))
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("confirm %q: %d", typed, r.status)
		}
		wantIn(t, "mismatch", r.body, `id="confirm-error"`, "does not match; nothing was proposed")
	}
	if calls := e.proposer.Calls(); len(calls) != 0 {
		t.Fatalf("proposer called on a mismatch: %v", calls)
	}
	r := e.post("/stores/gamma/delete", form("csrf", tok, "confirm", "gamma"))
	if r.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	wantIn(t, "deleted", r.body, "Pull request opened", `href="https://git.example.com/shops/stores/pulls/42"`, "to delete <strong>gamma</strong>")
	if got := e.proposer.Calls(); len(got) != 1 || got[0] != "delete gamma by alice" {
		t.Errorf("calls %v", got)
	}

	e.proposer.DeleteFn = func(context.Context, string, string) (proposals.Proposal, error) {
		return proposals.Proposal{}, fmt.Errorf("remove: %w", render.ErrNoSuchStore)
	}
	r = e.post("/stores/beta/delete", form("csrf", tok, "confirm", "beta"))
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("no such store: %d", r.status)
	}
	wantIn(t, "no such store", r.body, "no longer declares this store")

	if r := e.post("/stores/omega/delete", form("csrf", tok, "confirm", "omega")); r.status != http.StatusNotFound {
		t.Errorf("unknown store: %d", r.status)
	}
}
