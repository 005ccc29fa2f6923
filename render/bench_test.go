package render_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/storeops/storeops/render"
)

// fleet is a stores.yaml with n stores of both types.
func fleet(n int) []byte {
	var b strings.Builder
	b.WriteString("defaults:\n  baseDomain: shops.example.com\nstores:\n")
	for i := 0; i < n; i++ {
		typ := "woocommerce"
		if i%3 == 0 {
			typ = "medusa"
		}
		fmt.Fprintf(&b, "  # store %d\n  - name: store-%05d\n    type: %s\n    plan: small\n    admin:\n      email: owner%d@example.com\n    options:\n      title: Store number %d\n", i, i, typ, i, i)
	}
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		data := fleet(n)
		b.Run(fmt.Sprintf("stores=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := render.Parse("stores.yaml", data, render.Limits{MaxStores: n}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	cfg, err := render.Parse("stores.yaml", fleet(1000), render.Limits{MaxStores: 1000})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		render.Render(cfg)
	}
}

func BenchmarkAddStore(b *testing.B) {
	data := fleet(1000)
	for b.Loop() {
		if _, err := render.AddStore("stores.yaml", data, render.NewStore{Name: "store-00500a", Type: "medusa"}, render.Limits{MaxStores: 1001}); err != nil {
			b.Fatal(err)
		}
	}
}
