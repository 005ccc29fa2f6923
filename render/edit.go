package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// NewStore is a store proposed for addition, as a form would send it. Empty
// Plan, Domain and AdminEmail take the file's defaults.
type NewStore struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Plan       string `json:"plan,omitempty"`
	Domain     string `json:"domain,omitempty"`
	AdminEmail string `json:"adminEmail,omitempty"`
}

// FieldErrors maps a NewStore field ("name", "type", "plan", "domain",
// "adminEmail") to what is wrong with it.
type FieldErrors map[string]string

// Error lists the fields and their problems in a stable order.
func (f FieldErrors) Error() string {
	var b strings.Builder
	for i, k := range sortedKeys(f) {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", k, f[k])
	}
	return b.String()
}

// Check validates the fields of a proposed store on their own, with the same
// rules as Parse.
func (s NewStore) Check() FieldErrors {
	fe := FieldErrors{}
	if m := CheckName(s.Name); m != "" {
		fe["name"] = m
	}
	if !knownType(s.Type) {
		fe["type"] = fmt.Sprintf("must be one of: %s", joinTypes())
	}
	if _, ok := tiers[Plan(s.Plan)]; s.Plan != "" && !ok {
		fe["plan"] = fmt.Sprintf("must be one of: %s", joinPlans())
	}
	if s.Domain != "" {
		if m := CheckDomain(s.Domain); m != "" {
			fe["domain"] = m
		}
	}
	if s.AdminEmail != "" {
		if m := CheckEmail(s.AdminEmail); m != "" {
			fe["adminEmail"] = m
		}
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// ErrNoSuchStore is returned by RemoveStore for a name the file lacks.
var ErrNoSuchStore = errors.New("no such store")

// AddStore returns data with one store added to the stores list, placed in
// name order, and every other byte unchanged. The current file must be
// valid; the result is validated as a whole with Parse and limits. Problems
// with the new store's own fields come back as FieldErrors, problems of the
// resulting file as an ErrorList.
func AddStore(file string, data []byte, s NewStore, limits Limits) ([]byte, error) {
	if fe := s.Check(); fe != nil {
		return nil, fe
	}
	cfg, err := Parse(file, data, limits)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid; fix it before adding a store:\n%w", file, err)
	}
	if old, ok := cfg.Store(s.Name); ok {
		return nil, FieldErrors{"name": fmt.Sprintf("a store named %q already exists (line %d)", s.Name, old.Line)}
	}
	ed, err := newEditor(file, data)
	if err != nil {
		return nil, err
	}
	out, err := ed.add(s)
	if err != nil {
		return nil, err
	}
	if _, err := Parse(file, out, limits); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveStore returns data without the named store's lines (and the comment
// lines directly above it); every other byte is unchanged.
func RemoveStore(file string, data []byte, name string) ([]byte, error) {
	ed, err := newEditor(file, data)
	if err != nil {
		return nil, err
	}
	return ed.remove(name)
}

// editor splices the lines of a stores.yaml file, guided by its node tree.
type editor struct {
	file    string
	data    []byte
	lines   []string // each with its "\n", except perhaps the last
	root    *yaml.Node
	key     *yaml.Node // the "stores" key, if any
	seq     *yaml.Node // its value, if any
	dashCol int        // 0-based column of the items' "-"
	keyCol  int        // 0-based column of the items' keys
}

func newEditor(file string, data []byte) (*editor, error) {
	root, err := parseNode(file, data)
	if err != nil {
		return nil, err
	}
	ed := &editor{file: file, data: data, root: root, lines: splitLines(data)}
	if root != nil && root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "stores" {
				ed.key, ed.seq = root.Content[i], root.Content[i+1]
			}
		}
	}
	if ed.seq != nil && ed.seq.Kind == yaml.SequenceNode && len(ed.seq.Content) > 0 {
		if ed.seq.Style&yaml.FlowStyle != 0 {
			return nil, ed.errorf(ed.seq, "stores is written in flow style ([...]); write it as a block list to edit it here")
		}
		ed.dashCol = ed.seq.Column - 1
		ed.keyCol = ed.seq.Content[0].Column - 1
		for _, it := range ed.seq.Content {
			if ed.dashLine(it) != it.Line || it.Kind != yaml.MappingNode {
				return nil, ed.errorf(it, "each store must start on its '-' line to be edited here")
			}
		}
	} else if ed.key != nil {
		ed.dashCol = ed.key.Column - 1 + 2
		ed.keyCol = ed.dashCol + 2
	} else {
		ed.dashCol, ed.keyCol = 2, 4
	}
	return ed, nil
}

func (ed *editor) errorf(n *yaml.Node, format string, args ...any) error {
	return ErrorList{{File: ed.file, Line: n.Line, Column: n.Column, Field: "stores", Msg: fmt.Sprintf(format, args...)}}
}

func splitLines(data []byte) []string {
	var out []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, string(data))
			break
		}
		out = append(out, string(data[:i+1]))
		data = data[i+1:]
	}
	return out
}

// line returns line n (1-based) without its newline.
func (ed *editor) line(n int) string { return strings.TrimRight(ed.lines[n-1], "\r\n") }

func (ed *editor) blank(n int) bool { return strings.TrimSpace(ed.line(n)) == "" }

func (ed *editor) indent(n int) int {
	l := ed.line(n)
	return len(l) - len(strings.TrimLeft(l, " "))
}

func (ed *editor) comment(n int) bool {
	return strings.HasPrefix(strings.TrimSpace(ed.line(n)), "#")
}

// dashLine is the line of the item's "-" (the item's own line when the
// first key follows the dash).
func (ed *editor) dashLine(it *yaml.Node) int {
	l := ed.line(it.Line)
	if len(l) > ed.dashCol && l[ed.dashCol] == '-' && strings.TrimSpace(l[:ed.dashCol]) == "" {
		return it.Line
	}
	return -1
}

// blockStart is the first line of item i: its dash line, or the comment
// lines at the dash's column directly above it.
func (ed *editor) blockStart(i int) int {
	k := ed.seq.Content[i].Line
	for k > 1 && ed.comment(k-1) && ed.indent(k-1) == ed.dashCol {
		k--
	}
	return k
}

// lastEnd is the last line of the last item: the last non-blank line
// indented deeper than the dash.
func (ed *editor) lastEnd() int {
	start := ed.seq.Content[len(ed.seq.Content)-1].Line
	end := start
	for k := start + 1; k <= len(ed.lines); k++ {
		if ed.blank(k) {
			continue
		}
		if ed.indent(k) <= ed.dashCol {
			break
		}
		end = k
	}
	return end
}

// separator is "\n" when the items are separated by blank lines.
func (ed *editor) separator() string {
	if len(ed.seq.Content) >= 2 && ed.blank(ed.blockStart(1)-1) {
		return "\n"
	}
	return ""
}

// splice replaces lines [from, to] (1-based, inclusive; to = from-1 to
// insert) with text, keeping the file's final-newline style.
func (ed *editor) splice(from, to int, text string) []byte {
	var b strings.Builder
	for _, l := range ed.lines[:from-1] {
		b.WriteString(l)
	}
	if from > 1 && !strings.HasSuffix(ed.lines[from-2], "\n") {
		b.WriteString("\n") // appending after a last line without newline
	}
	b.WriteString(text)
	for _, l := range ed.lines[to:] {
		b.WriteString(l)
	}
	out := b.String()
	noFinalNewline := len(ed.data) > 0 && ed.data[len(ed.data)-1] != '\n'
	if to >= len(ed.lines) && noFinalNewline {
		out = strings.TrimSuffix(out, "\n")
	}
	return []byte(out)
}

func (ed *editor) add(s NewStore) ([]byte, error) {
	block, err := ed.itemText(s)
	if err != nil {
		return nil, err
	}
	switch {
	case ed.key == nil:
		// No stores list yet: append one.
		prefix := ""
		if len(ed.data) > 0 && ed.data[len(ed.data)-1] != '\n' {
			prefix = "\n"
		}
		return append(append(append([]byte{}, ed.data...), prefix+"stores:\n"...), block...), nil
	case ed.seq.Kind != yaml.SequenceNode || len(ed.seq.Content) == 0:
		// "stores:" with nothing, or "stores: []": the list starts on the
		// next line.
		l := ed.line(ed.key.Line)
		head := l[:ed.key.Column-1+len("stores")] + ":"
		rest := strings.TrimSpace(l[len(head):])
		rest = strings.TrimSpace(strings.TrimPrefix(rest, "[]"))
		if rest != "" && !strings.HasPrefix(rest, "#") {
			return nil, ed.errorf(ed.key, "cannot add to this stores value; write it as a block list")
		}
		if rest != "" {
			head += " " + rest
		}
		return ed.splice(ed.key.Line, ed.key.Line, head+"\n"+block), nil
	}
	items := ed.seq.Content
	// Before the first store whose name sorts after the new one.
	j := len(items)
	for i := range items {
		if itemName(items[i]) > s.Name {
			j = i
			break
		}
	}
	sep := ed.separator()
	if j < len(items) {
		at := ed.blockStart(j)
		return ed.splice(at, at-1, block+sep), nil
	}
	at := ed.lastEnd() + 1
	return ed.splice(at, at-1, sep+block), nil
}

func (ed *editor) remove(name string) ([]byte, error) {
	if ed.seq == nil || ed.seq.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: %w %q", ed.file, ErrNoSuchStore, name)
	}
	items := ed.seq.Content
	for i, it := range items {
		if itemName(it) != name {
			continue
		}
		if ed.seq.Style&yaml.FlowStyle != 0 {
			return nil, ed.errorf(ed.seq, "stores is written in flow style ([...]); write it as a block list to edit it here")
		}
		from := ed.blockStart(i)
		var to int
		if i+1 < len(items) {
			to = ed.blockStart(i+1) - 1
		} else {
			to = ed.lastEnd()
			for i > 0 && from > 1 && ed.blank(from-1) {
				from--
			}
		}
		return ed.splice(from, to, ""), nil
	}
	return nil, fmt.Errorf("%s: %w %q", ed.file, ErrNoSuchStore, name)
}

func itemName(it *yaml.Node) string {
	if it.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(it.Content); i += 2 {
		if it.Content[i].Value == "name" {
			return it.Content[i+1].Value
		}
	}
	return ""
}

// itemText renders the new store as list-item lines at the list's
// indentation.
func (ed *editor) itemText(s NewStore) (string, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	add("name", str(s.Name))
	add("type", str(s.Type))
	if s.Plan != "" {
		add("plan", str(s.Plan))
	}
	if s.Domain != "" {
		add("domain", str(s.Domain))
	}
	if s.AdminEmail != "" {
		add("admin", &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("email"), str(s.AdminEmail)}})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		if i == 0 {
			b.WriteString(strings.Repeat(" ", ed.dashCol) + "-" + strings.Repeat(" ", max(1, ed.keyCol-ed.dashCol-1)))
		} else {
			b.WriteString(strings.Repeat(" ", max(ed.dashCol+2, ed.keyCol)))
		}
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String(), nil
}
