// Package render owns the stores.yaml format and the desired state derived
// from it.
//
// Parse reads a stores.yaml file into an immutable Config, reporting every
// problem of the file at once, each with file:line:column and the path of the
// field (for example `stores.yaml:14:11: stores[2].name: "My_Shop" is not a
// DNS label`). Defaults are applied after validation.
//
// Render turns each store of a Config into its Desired state: the namespace,
// ResourceQuota, LimitRange and NetworkPolicy that isolate it, and the Helm
// release (chart, values, checksum) that runs it. Rendering is pure: no
// cluster, no network, the same input always gives the same output.
//
// AddStore and RemoveStore edit the bytes of a stores.yaml file, changing the
// lines of one store and leaving every other byte (comments, key order, blank
// lines) as it was; the dashboard uses them to propose changes as pull
// requests.
package render
