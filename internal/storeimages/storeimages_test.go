package storeimages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/reporoot"
)

// The committed package.json and package-lock.json of the backend and of
// the storefront pin every @medusajs/* package to the chart's appVersion.
func TestImagesPinTheChartsMedusa(t *testing.T) {
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	v, err := AppVersion(root, "medusa")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "charts", "medusa-images", "backend")
	pkg, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPins(pkg, lock, v, "@medusajs/framework", "@medusajs/medusa", "@medusajs/cli"); err != nil {
		t.Error(err)
	}
	dir = filepath.Join(root, "charts", "medusa-images", "storefront", "sdk")
	if pkg, err = os.ReadFile(filepath.Join(dir, "package.json")); err != nil {
		t.Fatal(err)
	}
	if lock, err = os.ReadFile(filepath.Join(dir, "package-lock.json")); err != nil {
		t.Fatal(err)
	}
	if err := CheckPins(pkg, lock, v, "@medusajs/js-sdk"); err != nil {
		t.Error(err)
	}
}

func TestCheckPins(t *testing.T) {
	lock := func(v string) string {
		return `{"lockfileVersion":3,"packages":{"":{},` +
			`"node_modules/@medusajs/framework":{"version":"` + v + `","resolved":"https://r/f.tgz","integrity":"sha512-x"},` +
			`"node_modules/@medusajs/medusa":{"version":"` + v + `","resolved":"https://r/m.tgz","integrity":"sha512-x"},` +
			`"node_modules/@medusajs/cli":{"version":"` + v + `","resolved":"https://r/c.tgz","integrity":"sha512-x"}}}`
	}
	pkg := `{"dependencies":{"@medusajs/medusa":"2.8.4","@medusajs/framework":"2.8.4","pg":"^8"}}`
	resolved := []string{"@medusajs/framework", "@medusajs/medusa", "@medusajs/cli"}
	if err := CheckPins([]byte(pkg), []byte(lock("2.8.4")), "2.8.4", resolved...); err != nil {
		t.Errorf("pinned: %v", err)
	}
	for name, c := range map[string]struct{ pkg, lock, want string }{
		"range":        {`{"dependencies":{"@medusajs/medusa":"^2.8.4"}}`, lock("2.8.4"), `@medusajs/medusa is "^2.8.4"`},
		"other":        {pkg, lock("2.8.5"), `@medusajs/framework resolves to "2.8.5"`},
		"no medusa":    {`{"dependencies":{"pg":"8.13.0"}}`, lock("2.8.4"), "no @medusajs/* dependency"},
		"old lockfile": {pkg, strings.Replace(lock("2.8.4"), `"lockfileVersion":3`, `"lockfileVersion":1`, 1), "lockfileVersion 1"},
		"no integrity": {pkg, strings.Replace(lock("2.8.4"), `,"integrity":"sha512-x"}}}`, `}}}`, 1), "node_modules/@medusajs/cli has no integrity"},
	} {
		err := CheckPins([]byte(c.pkg), []byte(c.lock), "2.8.4", resolved...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestCheckIntegrity(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(f, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// printf 'hello\n' | openssl dgst -sha512 -binary | base64 -w0
	good := "sha512-58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ=="
	if err := checkIntegrity(f, good); err != nil {
		t.Error(err)
	}
	if err := checkIntegrity(f, "sha512-AAAA"); err == nil {
		t.Error("a wrong integrity passed")
	}
}
