package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse reads and validates a stores.yaml file. file names it in errors. On
// any problem it returns a nil Config and an ErrorList with every problem of
// the file, in file order.
func Parse(file string, data []byte, limits Limits) (*Config, error) {
	limits = limits.withDefaults()
	if len(data) > limits.MaxBytes {
		return nil, ErrorList{{File: file, Line: 1, Column: 1,
			Msg: fmt.Sprintf("file is %d bytes, over the limit of %d bytes", len(data), limits.MaxBytes)}}
	}
	root, err := parseNode(file, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file}
	raw := d.file_(root)
	if len(raw.stores) > limits.MaxStores {
		d.errorf(raw.storesNode, "stores", "%d stores declared, more than the maximum of %d", len(raw.stores), limits.MaxStores)
	}
	cfg := d.validate(raw)
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	cfg.file = file
	return cfg, nil
}

// parseNode parses the YAML syntax of data and returns the document's
// content node (nil for an empty file).
func parseNode(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, ErrorList{syntaxError(file, data, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ErrorList{{File: file, Line: extra.Line, Column: extra.Column,
			Msg: "more than one YAML document; stores.yaml holds exactly one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, ErrorList{syntaxError(file, data, err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError locates a YAML syntax error. yaml.v3 names the line where
// the enclosing block starts rather than the offending one, so the line is
// found again: the first line whose prefix of the file no longer parses
// (binary search; a prefix that fails stays failing as lines are added).
func syntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if l := firstFailingLine(lines); l > 0 {
		line = l
	}
	col := 1
	if line <= len(lines) {
		text := lines[line-1]
		col = len(text) - len(bytes.TrimLeft(text, " ")) + 1
	}
	return &Error{File: file, Line: line, Column: col, Msg: "invalid YAML: " + msg}
}

// firstFailingLine is the smallest n such that the first n lines do not
// parse, or 0 if every prefix parses.
func firstFailingLine(lines [][]byte) int {
	fails := func(n int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:n], nil)))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				return !errors.Is(err, io.EOF)
			}
		}
	}
	lo, hi := 1, len(lines)
	if hi == 0 || !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// field is one decoded scalar with the node it came from.
type field[T any] struct {
	val  T
	set  bool
	node *yaml.Node
}

type rawDefaults struct {
	node                                                     *yaml.Node
	baseDomain, ingressClass, ingressNamespace, storageClass field[string]
	plan, clusterIssuer, cluster                             field[string]
}

type rawStore struct {
	node                                *yaml.Node
	broken                              bool // not a usable mapping
	path                                string
	name, typ, plan, domain, adminEmail field[string]
	title, tlsSecret, flatRate, cluster field[string]
	suspend, sampleData                 field[bool]
	paymentMethods                      field[[]field[string]]
}

type rawFile struct {
	defaults   rawDefaults
	stores     []rawStore
	storesNode *yaml.Node
}

// decoder walks the node tree, collecting every error instead of stopping
// at the first.
type decoder struct {
	file string
	errs ErrorList
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Line: 1, Column: 1, Field: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// mapping walks the pairs of a mapping node, reporting a non-mapping,
// non-string keys, duplicate keys and keys without a handler.
// It reports whether n was a usable mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]func(v *yaml.Node, path string)) bool {
	n = d.deref(n, path)
	if n == nil || isNull(n) {
		return n != nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			d.errorf(k, path, "YAML merge keys (<<) are not allowed")
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			d.errorf(k, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		p := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, p, "duplicate key (first set on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		h, ok := fields[k.Value]
		if !ok {
			d.errorf(k, p, "unknown field; allowed here: %s", strings.Join(sortedKeys(fields), ", "))
			continue
		}
		h(v, p)
	}
	return true
}

// deref refuses aliases and unusual tags, which stores.yaml has no use for.
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		d.errorf(n, path, "YAML aliases are not allowed")
		return nil
	}
	if n.Anchor != "" {
		d.errorf(n, path, "YAML anchors are not allowed")
		return nil
	}
	return n
}

func (d *decoder) str(f *field[string]) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		f.node = n
		n = d.deref(n, path)
		if n == nil || isNull(n) {
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.errorf(n, path, "expected a string, got %s", describe(n))
			f.node = n // present, though malformed
			return
		}
		*f = field[string]{val: n.Value, set: true, node: n}
	}
}

// strList decodes a list of strings, each kept with its node.
func (d *decoder) strList(f *field[[]field[string]]) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		f.node = n
		n = d.deref(n, path)
		if n == nil || isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list of strings, got %s", describe(n))
			return
		}
		out := field[[]field[string]]{val: []field[string]{}, set: true, node: n}
		for i, item := range n.Content {
			var e field[string]
			d.str(&e)(item, fmt.Sprintf("%s[%d]", path, i))
			if !e.set {
				if e.node != nil && isNull(e.node) {
					d.errorf(item, fmt.Sprintf("%s[%d]", path, i), "expected a string, got null")
				}
				return
			}
			out.val = append(out.val, e)
		}
		*f = out
	}
}

// decimal decodes a number written as a YAML number or string, keeping its
// text ("5.00" stays "5.00").
func (d *decoder) decimal(f *field[string]) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		f.node = n
		n = d.deref(n, path)
		if n == nil || isNull(n) {
			return
		}
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float") {
			d.errorf(n, path, "expected a number like 5.00, got %s", describe(n))
			return
		}
		*f = field[string]{val: n.Value, set: true, node: n}
	}
}

func (d *decoder) boolean(f *field[bool]) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		n = d.deref(n, path)
		if n == nil || isNull(n) {
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorf(n, path, "expected true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(n, path, "expected true or false, got %s", describe(n))
			return
		}
		*f = field[bool]{val: b, set: true, node: n}
	}
}

func (d *decoder) file_(root *yaml.Node) rawFile {
	var raw rawFile
	if root == nil {
		return raw
	}
	d.mapping(root, "", map[string]func(*yaml.Node, string){
		"defaults": func(n *yaml.Node, path string) {
			df := &raw.defaults
			df.node = n
			d.mapping(n, path, map[string]func(*yaml.Node, string){
				"baseDomain":       d.str(&df.baseDomain),
				"ingressClass":     d.str(&df.ingressClass),
				"ingressNamespace": d.str(&df.ingressNamespace),
				"plan":             d.str(&df.plan),
				"storageClass":     d.str(&df.storageClass),
				"clusterIssuer":    d.str(&df.clusterIssuer),
				"cluster":          d.str(&df.cluster),
			})
		},
		"stores": func(n *yaml.Node, path string) {
			raw.storesNode = n
			raw.stores = d.stores(n, path)
		},
	})
	return raw
}

func (d *decoder) stores(n *yaml.Node, path string) []rawStore {
	n = d.deref(n, path)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list of stores, got %s", describe(n))
		return nil
	}
	out := make([]rawStore, len(n.Content))
	for i, item := range n.Content {
		s := &out[i]
		s.node = item
		s.path = fmt.Sprintf("%s[%d]", path, i)
		if isNull(item) {
			d.errorf(item, s.path, "empty store entry")
			s.broken = true
			continue
		}
		s.broken = !d.mapping(item, s.path, map[string]func(*yaml.Node, string){
			"name":    d.str(&s.name),
			"type":    d.str(&s.typ),
			"plan":    d.str(&s.plan),
			"domain":  d.str(&s.domain),
			"suspend": d.boolean(&s.suspend),
			"cluster": d.str(&s.cluster),
			"admin": func(n *yaml.Node, path string) {
				d.mapping(n, path, map[string]func(*yaml.Node, string){
					"email": d.str(&s.adminEmail),
				})
			},
			"options": func(n *yaml.Node, path string) {
				d.mapping(n, path, map[string]func(*yaml.Node, string){
					"title":          d.str(&s.title),
					"sampleData":     d.boolean(&s.sampleData),
					"tlsSecret":      d.str(&s.tlsSecret),
					"paymentMethods": d.strList(&s.paymentMethods),
					"flatRate":       d.decimal(&s.flatRate),
				})
			},
		})
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("string %q", v)
	case "!!int":
		return "number " + v
	case "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	case "!!null":
		return "null"
	}
	return fmt.Sprintf("%s %q", n.Tag, v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
