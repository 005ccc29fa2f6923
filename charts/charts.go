// Package charts holds the Helm charts of the stores storeops provisions
// (woocommerce and medusa), embedded into the binary, and the contract between
// a chart and the credentials Secret that storeops creates once per store.
//
// A chart never generates credentials: every password, key and salt comes from
// the Secret named by the value existingSecret, which must hold the keys
// listed by SecretKeys for the store type. The charts install standalone with
// `helm install` as long as that Secret exists in the release namespace.
package charts

import (
	"bytes"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/ignore"
)

// Store types with a chart.
const (
	WooCommerce = "woocommerce"
	Medusa      = "medusa"
)

// ErrUnknownStoreType is returned by Load for a store type without a chart.
var ErrUnknownStoreType = errors.New("unknown store type")

//go:embed all:woocommerce all:medusa
var files embed.FS

// Types lists the store types that have a chart, sorted.
func Types() []string { return []string{Medusa, WooCommerce} }

// Load returns the embedded chart for a store type ("woocommerce" or "medusa").
// Each call returns a fresh chart that the caller may modify.
func Load(storeType string) (*chart.Chart, error) {
	if !slices.Contains(Types(), storeType) {
		return nil, fmt.Errorf("load chart %q: %w", storeType, ErrUnknownStoreType)
	}
	bufs, err := chartFiles(storeType)
	if err != nil {
		return nil, fmt.Errorf("load chart %q: %w", storeType, err)
	}
	c, err := loader.LoadFiles(bufs)
	if err != nil {
		return nil, fmt.Errorf("load chart %q: %w", storeType, err)
	}
	return c, nil
}

// chartFiles reads the embedded chart directory dir, skipping what its
// .helmignore excludes, the way `helm package` would.
func chartFiles(dir string) ([]*loader.BufferedFile, error) {
	rules := ignore.Empty()
	if data, err := files.ReadFile(path.Join(dir, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("parse %s: %w", ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	var out []*loader.BufferedFile
	err := fs.WalkDir(files, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if rel == "" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rules.Ignore(rel, fi) {
				return fs.SkipDir
			}
			return nil
		}
		if rules.Ignore(rel, fi) {
			return nil
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, &loader.BufferedFile{Name: rel, Data: data})
		return nil
	})
	return out, err
}

// Format says what a credential value must look like.
type Format string

// Formats of credential values.
const (
	// FormatRandom is 32 random bytes written in base 62: exactly 43 letters
	// and digits (256 bits, no bias). Only letters and digits, so that no
	// command line, configuration file, URL or shell word can misread a
	// value: none starts with '-' (a Redis password "--x" was read as an
	// option), and none needs quoting or URL-encoding.
	FormatRandom Format = "random"
	// FormatPublishableKey is a Medusa publishable API key token: "pk_"
	// followed by 64 lowercase hex digits (32 random bytes), the shape Medusa
	// itself generates. The storefront sends it with every Store API call.
	FormatPublishableKey Format = "medusa-publishable-key"
)

// SecretKeySpec is one key of a store's credentials Secret and the format its
// value must have.
type SecretKeySpec struct {
	Key    string
	Format Format
}

// Generate returns a new value for the key in its format, reading randomness
// from r (crypto/rand.Reader in production).
func (s SecretKeySpec) Generate(r io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generate %s: %w", s.Key, err)
	}
	switch s.Format {
	case FormatPublishableKey:
		return "pk_" + hex.EncodeToString(b), nil
	default:
		return base62(b), nil
	}
}

// base62Digits are the digits of FormatRandom values.
const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomLength is the length of a FormatRandom value: 62^43 > 2^256, so 43
// base-62 digits hold any 32 bytes.
const randomLength = 43

// base62 writes b, a big-endian number, as randomLength base-62 digits
// (zero-padded on the left).
func base62(b []byte) string {
	n := new(big.Int).SetBytes(b)
	out := make([]byte, randomLength)
	base, rem := big.NewInt(62), new(big.Int)
	for i := randomLength - 1; i >= 0; i-- {
		n.QuoRem(n, base, rem)
		out[i] = base62Digits[rem.Int64()]
	}
	return string(out)
}

// wordpressKeys are the eight authentication keys and salts of wp-config.php.
var wordpressKeys = []string{
	"wordpress-auth-key", "wordpress-secure-auth-key", "wordpress-logged-in-key", "wordpress-nonce-key",
	"wordpress-auth-salt", "wordpress-secure-auth-salt", "wordpress-logged-in-salt", "wordpress-nonce-salt",
}

// SecretKeySpecs lists the keys, with their formats, that the credentials
// Secret of a store type must hold; nil for an unknown type.
func SecretKeySpecs(storeType string) []SecretKeySpec {
	var keys []string
	switch storeType {
	case WooCommerce:
		keys = append([]string{"mysql-root-password", "mysql-password", "admin-password"}, wordpressKeys...)
	case Medusa:
		keys = []string{"postgres-password", "redis-password", "jwt-secret", "cookie-secret", "admin-password"}
	default:
		return nil
	}
	specs := make([]SecretKeySpec, 0, len(keys)+1)
	for _, k := range keys {
		specs = append(specs, SecretKeySpec{Key: k, Format: FormatRandom})
	}
	if storeType == Medusa {
		specs = append(specs, SecretKeySpec{Key: "publishable-key", Format: FormatPublishableKey})
	}
	return specs
}

// SecretKeys lists the keys the store's credentials Secret must hold for a
// store type; storeops fills each once with a value generated by
// SecretKeySpec.Generate. It returns nil for an unknown type.
func SecretKeys(storeType string) []string {
	var out []string
	for _, s := range SecretKeySpecs(storeType) {
		out = append(out, s.Key)
	}
	return out
}

// ProductionValues returns the chart's values-prod.yaml of a store type:
// the sizing storeops gives stores of the large plan (replicas, resources,
// volumes, data kept on delete). Keys storeops always sets itself
// (ingress, persistence) are overridden by the store's values. Each call
// returns a fresh map.
func ProductionValues(storeType string) (map[string]any, error) {
	if !slices.Contains(Types(), storeType) {
		return nil, fmt.Errorf("production values %q: %w", storeType, ErrUnknownStoreType)
	}
	data, err := files.ReadFile(path.Join(storeType, "values-prod.yaml"))
	if err != nil {
		return nil, fmt.Errorf("production values %q: %w", storeType, err)
	}
	vals, err := chartutil.ReadValues(data)
	if err != nil {
		return nil, fmt.Errorf("production values %q: %w", storeType, err)
	}
	return vals.AsMap(), nil
}
