package render_test

import (
	"reflect"
	"testing"

	"github.com/storeops/storeops/render"
)

func fingerprintFixture(t *testing.T) render.Desired {
	t.Helper()
	cfg, err := render.Parse("s.yaml", []byte(`stores:
  - name: a
    type: woocommerce
    plan: medium
    domain: shop.a.example
    admin: {email: owner@a.example}
    options: {title: A, sampleData: false, tlsSecret: a-tls, paymentMethods: [cod, bacs], flatRate: "2.00"}
`), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return render.Render(cfg)[0]
}

// Equal desired states have equal fingerprints, whatever the order of
// their maps; the fingerprint does not encode itself.
func TestFingerprintStable(t *testing.T) {
	a, b := fingerprintFixture(t), fingerprintFixture(t)
	fa := render.Fingerprint(&a)
	if fa == "" {
		t.Fatal("no fingerprint")
	}
	for range 20 { // map iteration order differs from run to run
		if fb := render.Fingerprint(&b); fb != fa {
			t.Fatalf("equal desired states, fingerprints %s and %s", fa, fb)
		}
	}
	b.Fingerprint = "something else"
	if render.Fingerprint(&b) != fa {
		t.Error("the fingerprint depends on the Fingerprint field")
	}
}

// A change of any field of Desired, and of any field of its Store (a field
// added later too: the test walks the types), changes the fingerprint. A
// field the JSON encoding leaves out (unexported, or tagged "-") fails here.
func TestFingerprintCoversEveryField(t *testing.T) {
	base := fingerprintFixture(t)
	want := render.Fingerprint(&base)
	renderPkg := reflect.TypeOf(base).PkgPath()
	var paths [][]int
	var names []string
	var walk func(typ reflect.Type, index []int, name string)
	walk = func(typ reflect.Type, index []int, name string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			path := append(append([]int(nil), index...), i)
			full := name + f.Name
			if len(index) == 0 && f.Name == "Fingerprint" || full == "Desired.Store.Line" {
				continue // itself; where the store stands in its file (TestFingerprintIgnoresTheLine)
			}
			if !f.IsExported() {
				t.Errorf("%s is unexported: the fingerprint (the JSON encoding) does not see it", full)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == renderPkg {
				walk(f.Type, path, full+".")
				continue
			}
			paths, names = append(paths, path), append(names, full)
		}
	}
	walk(reflect.TypeOf(base), nil, "Desired.")
	for _, want := range []string{"Desired.Store.Name", "Desired.Store.Options.Title", "Desired.Namespace", "Desired.Release.Values"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Fatalf("the walk missed %s: %v", want, names)
		}
	}
	for i, path := range paths {
		d := fingerprintFixture(t)
		if !change(reflect.ValueOf(&d).Elem().FieldByIndex(path)) {
			t.Errorf("%s: this test cannot change a field of kind %s; teach it", names[i], reflect.ValueOf(d).FieldByIndex(path).Kind())
			continue
		}
		if got := render.Fingerprint(&d); got == want || got == "" {
			t.Errorf("%s changed, fingerprint %q (unchanged: %q)", names[i], got, want)
		}
	}
}

// A change inside the objects of a desired state changes the fingerprint.
func TestFingerprintCoversTheObjects(t *testing.T) {
	base := fingerprintFixture(t)
	want := render.Fingerprint(&base)
	for name, edit := range map[string]func(d *render.Desired){
		"namespace label":       func(d *render.Desired) { d.Namespace.Labels["x"] = "y" },
		"quota":                 func(d *render.Desired) { d.Quota.Spec.Hard = nil },
		"limit range":           func(d *render.Desired) { d.LimitRange.Spec.Limits = d.LimitRange.Spec.Limits[1:] },
		"network policy except": func(d *render.Desired) { d.NetworkPolicy.Spec.Egress = d.NetworkPolicy.Spec.Egress[1:] },
		"value":                 func(d *render.Desired) { d.Release.Values["fingerprint-test"] = map[string]any{"a": 1} },
	} {
		d := fingerprintFixture(t)
		edit(&d)
		if got := render.Fingerprint(&d); got == want {
			t.Errorf("%s changed, same fingerprint", name)
		}
	}
}

// change changes v to another value; false for a kind it does not know.
func change(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(reflect.ValueOf("fingerprint-test").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			v.Set(reflect.Zero(v.Type()))
		}
	default:
		return false
	}
	return true
}

// Where a store stands in stores.yaml is for messages only: a store added
// above it does not change it (it would count as changed, and a push of
// one store as a revision changing them all).
func TestFingerprintIgnoresTheLine(t *testing.T) {
	a := fingerprintFixture(t)
	b := fingerprintFixture(t)
	b.Store.Line += 7
	if render.Fingerprint(&a) != render.Fingerprint(&b) {
		t.Error("a store that only moved down its file has another fingerprint")
	}
	if b.Store.Line != a.Store.Line+7 {
		t.Error("Fingerprint changed the store's line")
	}
}
