package render

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
	netutils "k8s.io/utils/net"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

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

// CheckCluster returns why c cannot name a target cluster, or "" if it
// can: a DNS label (the name of the cluster's registration), LocalCluster
// for storeops' own.
func CheckCluster(c string) string {
	if !dnsLabel.MatchString(c) || len(c) > 63 {
		return fmt.Sprintf("%q is not a cluster name (a DNS label: lowercase letters, digits and '-'; %q for storeops' own cluster)", c, LocalCluster)
	}
	return ""
}

// ClusterOf is the Store.Cluster of a valid cluster name: "" for
// LocalCluster.
func ClusterOf(c string) string {
	if c == LocalCluster {
		return ""
	}
	return c
}

// CheckIngressHost returns why the API server would refuse h as the host
// of an Ingress rule, or "" if it accepts it. It makes the API server's own
// checks (k8s.io/kubernetes pkg/apis/networking/validation, validateIngressRules)
// with the same functions: not an IP address (parsed as sloppily as the API
// server does, so 010.0.0.1 is one), and a lowercase RFC 1123 subdomain, or a
// wildcard one when it contains '*'.
func CheckIngressHost(h string) string {
	if netutils.ParseIPSloppy(h) != nil {
		return fmt.Sprintf("%q is an IP address; an Ingress host must be a DNS name", h)
	}
	if strings.Contains(h, "*") {
		if msgs := validation.IsWildcardDNS1123Subdomain(h); len(msgs) > 0 {
			return fmt.Sprintf("%q is not a valid Ingress host: %s", h, msgs[0])
		}
		return ""
	}
	if msgs := validation.IsDNS1123Subdomain(h); len(msgs) > 0 {
		return fmt.Sprintf("%q is not a valid Ingress host: %s", h, msgs[0])
	}
	return ""
}

// CheckDomain returns why d is not a usable store host name, or "" if it
// is. A store's domain is lower-cased, then it must pass CheckIngressHost
// (the API server's rules, so that nothing valid here is refused at apply
// time) and, stricter than the API server: no wildcard (a store is one
// host), at least two labels, and labels of at most 63 characters (DNS).
func CheckDomain(d string) string {
	h := strings.ToLower(d)
	switch {
	case strings.Contains(h, "*"):
		return fmt.Sprintf("%q is a wildcard; a store's domain is one host name", d)
	case netutils.ParseIPSloppy(h) != nil:
		return fmt.Sprintf("%q is an IP address; Ingress hosts are DNS names", d)
	case CheckIngressHost(h) != "":
		return fmt.Sprintf("%q is not a domain name (letters, digits, '-' and '.'; each label starts and ends with a letter or digit; at most 253 characters)", d)
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("%q is not a domain name (it needs at least two labels, like shop.example.com)", d)
	}
	for _, l := range labels {
		if len(l) > 63 {
			return fmt.Sprintf("%q is not a domain name (label %q is longer than 63 characters)", d, l)
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
	if f := raw.defaults.clusterIssuer; f.set {
		d.check(f, "defaults.clusterIssuer", checkObjectName(f.val))
		df.ClusterIssuer = f.val
	}

	if f := raw.defaults.cluster; f.set {
		d.check(f, "defaults.cluster", CheckCluster(f.val))
		df.Cluster = ClusterOf(f.val)
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
		} else if CheckName(s.Name) == "" && CheckDomain(df.BaseDomain) == "" {
			// Both parts are valid, yet together they may not be (a name
			// of digits before a base domain of digits makes an IP address).
			if msg := CheckDomain(s.Domain); msg != "" {
				d.errorf(rs.name.node, rs.path+".domain", "the default domain: %s; set a domain", msg)
			}
		}
	}
	if rs.adminEmail.set {
		d.check(rs.adminEmail, rs.path+".admin.email", CheckEmail(rs.adminEmail.val))
		s.AdminEmail = rs.adminEmail.val
	} else if s.Domain != "" {
		s.AdminEmail = "admin@" + s.Domain
	}
	s.Suspend = rs.suspend.val
	s.Cluster = df.Cluster
	if rs.cluster.set {
		d.check(rs.cluster, rs.path+".cluster", CheckCluster(rs.cluster.val))
		s.Cluster = ClusterOf(rs.cluster.val)
	}
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
	} else if df.ClusterIssuer != "" && s.Name != "" {
		s.Options.TLSSecret = s.Name + "-tls"
	}
	d.wooOptions(rs, &s)
	return s, len(d.errs) == errs
}

// MaxFlatRate bounds options.flatRate.
const MaxFlatRate = 999999.99

var flatRatePattern = regexp.MustCompile(`^[0-9]{1,6}(\.[0-9]{1,2})?$`)

// CheckFlatRate returns why r is not a flat shipping cost, or "" if it is.
func CheckFlatRate(r string) string {
	if !flatRatePattern.MatchString(r) {
		return fmt.Sprintf("%q is not a cost (a decimal with at most two places, like 5.00 or 0, at most %.2f)", r, MaxFlatRate)
	}
	return ""
}

// wooOptions checks the WooCommerce-only options and applies their
// defaults to a WooCommerce store.
func (d *decoder) wooOptions(rs rawStore, s *Store) {
	woo := s.Type == WooCommerce
	if rs.paymentMethods.set {
		if !woo && s.Type != "" {
			d.errorf(rs.paymentMethods.node, rs.path+".options.paymentMethods", "only WooCommerce stores have this option (Medusa stores are set up in their admin)")
		}
		if len(rs.paymentMethods.val) == 0 {
			d.errorf(rs.paymentMethods.node, rs.path+".options.paymentMethods", "names no payment method; checkout needs at least one of: %s", strings.Join(PaymentMethodNames, ", "))
		}
		seen := map[string]bool{}
		for i, m := range rs.paymentMethods.val {
			p := fmt.Sprintf("%s.options.paymentMethods[%d]", rs.path, i)
			switch {
			case !slices.Contains(PaymentMethodNames, m.val):
				d.errorf(m.node, p, "unknown payment method %q; known: %s (cod: cash on delivery, bacs: bank transfer)", m.val, strings.Join(PaymentMethodNames, ", "))
			case seen[m.val]:
				d.errorf(m.node, p, "payment method %q is listed twice", m.val)
			}
			seen[m.val] = true
			s.Options.PaymentMethods = append(s.Options.PaymentMethods, m.val)
		}
	} else if woo {
		s.Options.PaymentMethods = DefaultPaymentMethods()
	}
	if rs.flatRate.set {
		if !woo && s.Type != "" {
			d.errorf(rs.flatRate.node, rs.path+".options.flatRate", "only WooCommerce stores have this option (Medusa stores are set up in their admin)")
		}
		d.check(rs.flatRate, rs.path+".options.flatRate", CheckFlatRate(rs.flatRate.val))
		s.Options.FlatRate = rs.flatRate.val
	} else if woo {
		s.Options.FlatRate = DefaultFlatRate
	}
	if !woo {
		s.Options.PaymentMethods, s.Options.FlatRate = nil, ""
	}
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
