package render_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/storeops/storeops/render"
)

var editLayouts = map[string]string{
	"compact": "stores:\n  - name: bravo\n    type: woocommerce\n  - name: delta\n    type: medusa\n",
	"spaced-with-comments": `# head of file
defaults:
  plan: small # inline

stores:
  # bravo is the first
  - name: bravo
    type: woocommerce
    # trailing note inside bravo

  # delta comment
  - name: delta
    type: medusa
    options:
      title: >-
        Delta
        Store

# footer comment
`,
	"no-final-newline":  "stores:\n  - name: bravo\n    type: woocommerce\n  - name: delta\n    type: medusa",
	"zero-indent":       "stores:\n- name: bravo\n  type: woocommerce\n- name: delta\n  type: medusa\ndefaults:\n  plan: small\n",
	"four-space":        "stores:\n    -   name: bravo\n        type: woocommerce\n    -   name: delta\n        type: medusa\n",
	"unsorted":          "stores:\n  - name: delta\n    type: medusa\n  - name: bravo\n    type: woocommerce\n",
	"crlf-free-comment": "stores: # the list\n  - name: bravo\n    type: woocommerce\n",
}

// TestAddThenRemoveGivesBackTheFile adds a store at the start, middle and
// end of several layouts, checks the result, removes it again and expects
// the original bytes.
func TestAddThenRemoveGivesBackTheFile(t *testing.T) {
	example, err := os.ReadFile("../stores.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	editLayouts["example"] = string(example)
	for layout, orig := range editLayouts {
		for _, name := range []string{"aaa", "charlie", "zulu"} {
			t.Run(layout+"/"+name, func(t *testing.T) {
				before, err := render.Parse("s.yaml", []byte(orig), render.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				added, err := render.AddStore("s.yaml", []byte(orig), render.NewStore{Name: name, Type: "medusa", AdminEmail: "x@example.com"}, render.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := render.Parse("s.yaml", added, render.Limits{})
				if err != nil {
					t.Fatalf("added file invalid: %v\n%s", err, added)
				}
				if cfg.Len() != before.Len()+1 {
					t.Fatalf("%d stores after add, want %d", cfg.Len(), before.Len()+1)
				}
				s, ok := cfg.Store(name)
				if !ok || s.Type != render.Medusa || s.AdminEmail != "x@example.com" {
					t.Fatalf("new store %+v", s)
				}
				for _, line := range strings.Split(orig, "\n") {
					if !strings.Contains(string(added), line) {
						t.Errorf("line %q lost", line)
					}
				}
				removed, err := render.RemoveStore("s.yaml", added, name)
				if err != nil {
					t.Fatal(err)
				}
				if string(removed) != orig {
					t.Errorf("round trip changed the file:\n--- original\n%s\n--- added\n%s\n--- removed\n%s", orig, added, removed)
				}
			})
		}
	}
}

func TestAddPlacesInNameOrder(t *testing.T) {
	out, err := render.AddStore("s.yaml", []byte(editLayouts["spaced-with-comments"]), render.NewStore{Name: "charlie", Type: "woocommerce"}, render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := `    # trailing note inside bravo

  - name: charlie
    type: woocommerce

  # delta comment
`
	if !strings.Contains(string(out), want) {
		t.Errorf("charlie not between bravo and delta's comment:\n%s", out)
	}
}

func TestRemoveKeepsOtherComments(t *testing.T) {
	out, err := render.RemoveStore("s.yaml", []byte(editLayouts["spaced-with-comments"]), "delta")
	if err != nil {
		t.Fatal(err)
	}
	want := `# head of file
defaults:
  plan: small # inline

stores:
  # bravo is the first
  - name: bravo
    type: woocommerce
    # trailing note inside bravo

# footer comment
`
	if string(out) != want {
		t.Errorf("got:\n%s", out)
	}
	out, err = render.RemoveStore("s.yaml", []byte(editLayouts["spaced-with-comments"]), "bravo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "bravo") || !strings.Contains(string(out), "# delta comment\n  - name: delta") {
		t.Errorf("got:\n%s", out)
	}
}

func TestAddToEmptyOrMissingList(t *testing.T) {
	for _, orig := range []string{"", "defaults:\n  plan: small\n", "stores: []\n", "stores:\n", "stores: [] # none yet\n", "defaults: {plan: small}"} {
		out, err := render.AddStore("s.yaml", []byte(orig), render.NewStore{Name: "a", Type: "woocommerce"}, render.Limits{})
		if err != nil {
			t.Fatalf("%q: %v", orig, err)
		}
		cfg, err := render.Parse("s.yaml", out, render.Limits{})
		if err != nil || cfg.Len() != 1 {
			t.Fatalf("%q gave %q: %v", orig, out, err)
		}
	}
}

func TestAddRefusals(t *testing.T) {
	orig := []byte(editLayouts["compact"])
	_, err := render.AddStore("s.yaml", orig, render.NewStore{Name: "My_Shop", Type: "shopify", Plan: "xl", Domain: "nope", AdminEmail: "x"}, render.Limits{})
	var fe render.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 5 {
		t.Fatalf("want five field errors, got %v", err)
	}
	_, err = render.AddStore("s.yaml", orig, render.NewStore{Name: "bravo", Type: "medusa"}, render.Limits{})
	if !errors.As(err, &fe) || !strings.Contains(fe["name"], "already exists (line 2)") {
		t.Fatalf("duplicate: %v", err)
	}
	_, err = render.AddStore("s.yaml", orig, render.NewStore{Name: "echo", Type: "medusa"}, render.Limits{MaxStores: 2})
	if errs := render.Errors(err); len(errs) != 1 || !strings.Contains(errs[0].Msg, "more than the maximum of 2") {
		t.Fatalf("limit: %v", err)
	}
	_, err = render.AddStore("s.yaml", []byte("stores: [{name: a, type: medusa}]\n"), render.NewStore{Name: "b", Type: "medusa"}, render.Limits{})
	if err == nil || !strings.Contains(err.Error(), "flow style") {
		t.Fatalf("flow: %v", err)
	}
	_, err = render.AddStore("s.yaml", []byte("stores:\n  - name: Bad\n"), render.NewStore{Name: "b", Type: "medusa"}, render.Limits{})
	if err == nil || !strings.Contains(err.Error(), "fix it before adding") {
		t.Fatalf("invalid base: %v", err)
	}
	if _, err := render.RemoveStore("s.yaml", orig, "nope"); !errors.Is(err, render.ErrNoSuchStore) {
		t.Fatalf("remove missing: %v", err)
	}
}
