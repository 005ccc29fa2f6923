package manifestdiff

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Object is one Kubernetes object as its JSON form decodes.
type Object = map[string]any

// ID names an object: group/version, kind, namespace and name.
type ID struct {
	APIVersion, Kind, Namespace, Name string
}

// Path is the object's name in a diff header, as kubectl diff names its
// files: group.version.Kind.namespace.name.
func (id ID) Path() string {
	gv := strings.ReplaceAll(id.APIVersion, "/", ".")
	if id.Namespace == "" {
		return fmt.Sprintf("%s.%s.%s", gv, id.Kind, id.Name)
	}
	return fmt.Sprintf("%s.%s.%s.%s", gv, id.Kind, id.Namespace, id.Name)
}

// IDOf is the ID of obj; objects without a namespace of their own are
// given namespace (cluster-scoped kinds must say so with namespace "").
func IDOf(obj Object, namespace string) ID {
	meta, _ := obj["metadata"].(map[string]any)
	id := ID{APIVersion: str(obj["apiVersion"]), Kind: str(obj["kind"]), Name: str(meta["name"]), Namespace: str(meta["namespace"])}
	if id.Namespace == "" {
		id.Namespace = namespace
	}
	return id
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Parse reads a YAML stream of objects (a Helm release manifest); empty
// documents are skipped.
func Parse(manifest string) ([]Object, error) {
	var out []Object
	for i, doc := range strings.Split(manifest, "\n---") {
		doc = strings.TrimPrefix(doc, "---") // a stream that starts with ---
		var obj Object
		// The newline before the next "---" ends this document's last
		// line: a block scalar there keeps it, as the API server does.
		if err := yaml.Unmarshal([]byte(doc+"\n"), &obj); err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, obj)
	}
	return out, nil
}

// Project keeps of live only the fields that one of templates sets, at
// any depth (list items by position): what applying the templates may
// change. Fields only the API server or others set (status, UIDs,
// defaults, annotations of other tools) are left out.
func Project(live any, templates ...any) any {
	switch l := live.(type) {
	case map[string]any:
		var maps []map[string]any
		for _, t := range templates {
			if m, ok := t.(map[string]any); ok {
				maps = append(maps, m)
			}
		}
		if len(maps) == 0 {
			return live
		}
		out := map[string]any{}
		for k, v := range l {
			var sub []any
			for _, m := range maps {
				if tv, ok := m[k]; ok {
					sub = append(sub, tv)
				}
			}
			if len(sub) > 0 {
				out[k] = Project(v, sub...)
			}
		}
		return out
	case []any:
		var lists [][]any
		for _, t := range templates {
			if s, ok := t.([]any); ok {
				lists = append(lists, s)
			}
		}
		if len(lists) == 0 {
			return live
		}
		var out []any
		for i, v := range l {
			var sub []any
			for _, s := range lists {
				if i < len(s) {
					sub = append(sub, s[i])
				}
			}
			if len(sub) == 0 {
				break // items no template sets
			}
			out = append(out, Project(v, sub...))
		}
		return out
	}
	return live
}

// normalize drops null values and empty maps and lists (the API server
// does not keep them), and writes resource quantities (of maps under a
// "resources", "hard", "limits", "requests", "default" or
// "defaultRequest" key and the like) in their canonical form, so that
// 0.5 and 500m compare equal.
func normalize(v any, quantities bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, sub := range t {
			q := quantities || quantityKeys[k]
			if n := normalize(sub, q); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, sub := range t {
			if n := normalize(sub, quantities); n != nil {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if quantities {
			if q, err := resource.ParseQuantity(t); err == nil {
				return q.String()
			}
		}
	}
	return v
}

var quantityKeys = map[string]bool{"limits": true, "requests": true, "hard": true, "max": true, "min": true,
	"default": true, "defaultRequest": true, "maxLimitRequestRatio": true, "capacity": true}

// Masked is what a diff shows of a Secret's value.
const Masked = "***"

// maskSecrets replaces the values of a Secret's data and stringData with
// Masked, and, where both sides have a key, with "*** (before)" and
// "*** (after)" when its value changes. Values known on one side only
// (a live Secret against one whose values are made when it is created)
// are masked the same on both sides.
func maskSecrets(before, after Object) {
	for _, field := range []string{"data", "stringData"} {
		b, _ := before[field].(map[string]any)
		a, _ := after[field].(map[string]any)
		for k := range b {
			av, ok := a[k]
			switch {
			case !ok || av == nil || b[k] == nil || fmt.Sprint(av) == fmt.Sprint(b[k]):
				b[k] = Masked
			default:
				b[k], a[k] = Masked+" (before)", Masked+" (after)"
			}
		}
		for k, v := range a {
			if s, ok := v.(string); !ok || !strings.HasPrefix(s, Masked) {
				a[k] = Masked
			}
		}
	}
}

// clusterScoped are the kinds without a namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"PersistentVolume": true, "StorageClass": true, "IngressClass": true, "PriorityClass": true,
	"CustomResourceDefinition": true}

// LiveFunc returns the live object of id, with ok false when there is
// none.
type LiveFunc func(id ID) (obj Object, ok bool, err error)

// Changes pairs the desired objects of a namespace with the live ones:
// each desired object against its live copy projected onto the fields it
// or its previous version sets (see Project), and each previous object
// (what was applied last) no longer desired against nothing (when it is
// still there). live may be nil: nothing exists. Diff leaves out the
// objects that would not change.
func Changes(namespace string, desired, previous []Object, live LiveFunc) ([]Change, error) {
	id := func(o Object) ID {
		if clusterScoped[str(o["kind"])] {
			return IDOf(o, "")
		}
		return IDOf(o, namespace)
	}
	prev := map[ID]Object{}
	for _, o := range previous {
		prev[id(o)] = o
	}
	get := func(i ID) (Object, error) {
		if live == nil {
			return nil, nil
		}
		obj, ok, err := live(i)
		if err != nil || !ok {
			return nil, err
		}
		return obj, nil
	}
	var out []Change
	want := map[ID]bool{}
	for _, d := range desired {
		i := id(d)
		want[i] = true
		l, err := get(i)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", i.Path(), err)
		}
		c := Change{ID: i, After: d}
		if l != nil {
			templates := []any{d}
			if p, ok := prev[i]; ok {
				templates = append(templates, p)
			}
			c.Before, _ = Project(l, templates...).(map[string]any)
		}
		out = append(out, c)
	}
	for _, p := range previous {
		i := id(p)
		if want[i] {
			continue
		}
		l, err := get(i)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", i.Path(), err)
		}
		if l != nil {
			b, _ := Project(l, p).(map[string]any)
			out = append(out, Change{ID: i, Before: b})
		}
	}
	return out, nil
}

func isSecret(obj Object) bool {
	return obj != nil && str(obj["kind"]) == "Secret" && str(obj["apiVersion"]) == "v1"
}

// Change is one object before and after: Before nil for a new object,
// After nil for one that goes.
type Change struct {
	ID            ID
	Before, After Object
}

// Diff is the unified diff of every change, in ID order (the namespace's
// own objects first), each under the header "--- live/<path>" "+++
// desired/<path>" (/dev/null for a new or removed object); "" when
// nothing changes.
func Diff(changes []Change) (string, error) {
	sorted := append([]Change(nil), changes...)
	sort.SliceStable(sorted, func(i, j int) bool { return less(sorted[i].ID, sorted[j].ID) })
	var sb strings.Builder
	for _, c := range sorted {
		before, after := copyObject(c.Before), copyObject(c.After)
		if isSecret(before) || isSecret(after) {
			maskSecrets(orEmpty(before), orEmpty(after))
		}
		a, err := render(before)
		if err != nil {
			return "", fmt.Errorf("%s: %w", c.ID.Path(), err)
		}
		b, err := render(after)
		if err != nil {
			return "", fmt.Errorf("%s: %w", c.ID.Path(), err)
		}
		from, to := "live/"+c.ID.Path(), "desired/"+c.ID.Path()
		if before == nil {
			from = "/dev/null"
		}
		if after == nil {
			to = "/dev/null"
		}
		sb.WriteString(Unified(from, to, a, b))
	}
	return sb.String(), nil
}

// kindOrder puts the objects a store's namespace holds first, in the
// order they are made.
var kindOrder = map[string]int{"Namespace": 1, "ResourceQuota": 2, "LimitRange": 3, "NetworkPolicy": 4, "Secret": 5}

func less(a, b ID) bool {
	oa, ob := kindOrder[a.Kind], kindOrder[b.Kind]
	if oa == 0 {
		oa = 100
	}
	if ob == 0 {
		ob = 100
	}
	if oa != ob {
		return oa < ob
	}
	return a.Path() < b.Path()
}

func orEmpty(o Object) Object {
	if o == nil {
		return Object{}
	}
	return o
}

// copyObject is a deep copy of obj, normalized (see normalize).
func copyObject(obj Object) Object {
	if obj == nil {
		return nil
	}
	n, _ := normalize(deepCopy(obj), false).(map[string]any)
	if n == nil {
		n = Object{}
	}
	return n
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, sub := range t {
			out[k] = deepCopy(sub)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, sub := range t {
			out[i] = deepCopy(sub)
		}
		return out
	}
	return v
}

// render is obj as YAML with sorted keys; "" for nil.
func render(obj Object) (string, error) {
	if obj == nil {
		return "", nil
	}
	b, err := yaml.Marshal(obj)
	return string(b), err
}
