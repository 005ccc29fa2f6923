package render

import (
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// hostLabel is one label of a domain name (letters may be upper case).
	hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$`)
)

// MaxNameLength is the longest store name: its namespace "store-<name>"
// must fit in 63 characters.
const MaxNameLength = 63 - len(NamespacePrefix)

// CheckName returns why name cannot be a store name, or "" if it can.
func CheckName(name string) string {
	switch {
	case name == "":
		return "is required"
	case !dnsLabel.MatchString(name):
		return fmt.Sprintf("%q is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit)", name)
	case len(name) > MaxNameLength:
		return fmt.Sprintf("%q is %d characters; at most %d fit, since the namespace %q must fit in 63", name, len(name), MaxNameLength, NamespacePrefix+name)
	}
	return ""
}

// CheckDomain returns why d is not a usable host name, or "" if it is.
func CheckDomain(d string) string {
	if len(d) > 253 {
		return fmt.Sprintf("%q is longer than 253 characters", d)
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("%q is not a domain name (it needs at least two labels, like shop.example.com)", d)
	}
	for _, l := range labels {
		if len(l) > 63 || !hostLabel.MatchString(l) {
			return fmt.Sprintf("%q is not a domain name (label %q)", d, l)
		}
	}
	return ""
}

// CheckEmail returns why e is not a plain e-mail address, or "" if it is.
func CheckEmail(e string) string {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return fmt.Sprintf("%q is not an e-mail address (like owner@example.com)", e)
	}
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || CheckDomain(e[at+1:]) != "" || len(e) > 254 {
		return fmt.Sprintf("%q is not an e-mail address (like owner@example.com)", e)
	}
	return ""
}

func checkObjectName(s string) string {
	if len(s) > 253 {
		return fmt.Sprintf("%q is longer than 253 characters", s)
	}
	for _, l := range strings.Split(s, ".") {
		if !dnsLabel.MatchString(l) {
			return fmt.Sprintf("%q is not a Kubernetes object name (lowercase letters, digits, '-' and '.')", s)
		}
	}
	return ""
}

func checkTitle(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > MaxTitleLength {
		return fmt.Sprintf("is %d characters, more than %d", n, MaxTitleLength)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	if strings.TrimSpace(s) == "" {
		return "is blank"
	}
	return ""
}

// check reports msg (if any) at the field's node.
func (d *decoder) check(f field[string], path, msg string) {
	if msg != "" {
		d.errorf(f.node, path, "%s", msg)
	}
}

func (d *decoder) validate(raw rawFile) *Config {
	df := Defaults{
		BaseDomain:       DefaultBaseDomain,
		IngressClass:     DefaultIngressClass,
		IngressNamespace: DefaultIngressNamespace,
		Plan:             DefaultPlan,
	}
	if f := raw.defaults.baseDomain; f.set {
		d.check(f, "defaults.baseDomain", CheckDomain(f.val))
		df.BaseDomain = strings.ToLower(f.val)
	}
	if f := raw.defaults.ingressClass; f.set {
		d.check(f, "defaults.ingressClass", checkObjectName(f.val))
		df.IngressClass = f.val
	}
	if f := raw.defaults.ingressNamespace; f.set {
		if !dnsLabel.MatchString(f.val) || len(f.val) > 63 {
			d.errorf(f.node, "defaults.ingressNamespace", "%q is not a namespace name", f.val)
		}
		df.IngressNamespace = f.val
	}
	if f := raw.defaults.storageClass; f.set {
		d.check(f, "defaults.storageClass", checkObjectName(f.val))
		df.StorageClass = f.val
	}
	if f := raw.defaults.plan; f.set {
		d.checkPlan(f, "defaults.plan")
		df.Plan = Plan(f.val)
	}

	stores := make([]Store, 0, len(raw.stores))
	names := map[string]int{}
	domains := map[string]int{}
	for _, rs := range raw.stores {
		s, ok := d.store(rs, df)
		if !ok {
			continue
		}
		if line, dup := names[s.Name]; dup {
			d.errorf(rs.name.node, rs.path+".name", "duplicate store name %q (first declared on line %d)", s.Name, line)
			continue
		}
		names[s.Name] = rs.name.node.Line
		if line, dup := domains[s.Domain]; dup {
			n := rs.domain.node
			if n == nil {
				n = rs.name.node
			}
			d.errorf(n, rs.path+".domain", "domain %q is already used by the store on line %d", s.Domain, line)
			continue
		}
		domains[s.Domain] = rs.node.Line
		stores = append(stores, s)
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Name < stores[j].Name })
	return &Config{defaults: df, stores: stores}
}

func (d *decoder) checkPlan(f field[string], path string) {
	if _, ok := tiers[Plan(f.val)]; !ok {
		d.errorf(f.node, path, "unknown plan %q; known plans: %s", f.val, joinPlans())
	}
}

// store validates one entry and applies the defaults. ok is false when the
// entry is too broken to compare with others.
func (d *decoder) store(rs rawStore, df Defaults) (Store, bool) {
	errs := len(d.errs)
	s := Store{Line: rs.node.Line, Plan: df.Plan, Options: Options{SampleData: true}}
	if rs.broken {
		return s, false
	}
	if rs.name.node == nil || isNull(rs.name.node) {
		d.errorf(rs.node, rs.path+".name", "is required")
	} else if rs.name.set {
		d.check(rs.name, rs.path+".name", CheckName(rs.name.val))
		s.Name = rs.name.val
	}
	switch {
	case rs.typ.node == nil || isNull(rs.typ.node):
		d.errorf(rs.node, rs.path+".type", "is required (one of: %s)", joinTypes())
	case !rs.typ.set:
		// A malformed value, reported already.
	case !knownType(rs.typ.val):
		d.errorf(rs.typ.node, rs.path+".type", "unknown store type %q; known types: %s", rs.typ.val, joinTypes())
	default:
		s.Type = Type(rs.typ.val)
	}
	if rs.plan.set {
		d.checkPlan(rs.plan, rs.path+".plan")
		s.Plan = Plan(rs.plan.val)
	}
	if rs.domain.set {
		d.check(rs.domain, rs.path+".domain", CheckDomain(rs.domain.val))
		s.Domain = strings.ToLower(rs.domain.val)
	} else if s.Name != "" {
		s.Domain = s.Name + "." + df.BaseDomain
		if len(s.Domain) > 253 {
			d.errorf(rs.name.node, rs.path+".domain", "the default domain %q is longer than 253 characters; set a shorter domain", s.Domain)
		}
	}
	if rs.adminEmail.set {
		d.check(rs.adminEmail, rs.path+".admin.email", CheckEmail(rs.adminEmail.val))
		s.AdminEmail = rs.adminEmail.val
	} else if s.Domain != "" {
		s.AdminEmail = "admin@" + s.Domain
	}
	s.Suspend = rs.suspend.val
	s.Options.Title = s.Name
	if rs.title.set {
		d.check(rs.title, rs.path+".options.title", checkTitle(rs.title.val))
		s.Options.Title = rs.title.val
	}
	if rs.sampleData.set {
		s.Options.SampleData = rs.sampleData.val
	}
	if rs.tlsSecret.set {
		d.check(rs.tlsSecret, rs.path+".options.tlsSecret", checkObjectName(rs.tlsSecret.val))
		s.Options.TLSSecret = rs.tlsSecret.val
	}
	return s, len(d.errs) == errs
}

func knownType(t string) bool {
	for _, k := range Types {
		if string(k) == t {
			return true
		}
	}
	return false
}

func joinTypes() string {
	s := make([]string, len(Types))
	for i, t := range Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func joinPlans() string {
	s := make([]string, len(Plans))
	for i, p := range Plans {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
