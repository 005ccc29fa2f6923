package devcluster

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Profile is how the fake nodes behave: how kwok moves pods and Jobs
// through their lives, and how hard the controllers may drive the API
// server.
type Profile string

const (
	// Instant makes every pod Running and Ready as soon as it is
	// scheduled, and every Job's pod Succeed at once. The default.
	Instant Profile = "instant"
	// Realistic gives pods the start delays of real containers by role
	// (database, WordPress, Medusa server, storefront, ...), Jobs their
	// run times, and a small share of failures: transient image pull
	// errors, crashes at start, restart spells of Ready pods, Job runs that
	// fail and are retried. See RoleTimings, JobTimings and FailureTimings;
	// Options.TimeScale speeds it up.
	Realistic Profile = "realistic"
	// Bench is Instant with the client rate limits of the controller
	// manager and the scheduler raised, more concurrent syncs, a larger
	// in-flight limit on the API server, and 12 fake nodes: a rig to
	// measure what storeops does with a fleet of 1000 stores.
	Bench Profile = "bench"
)

// Profiles lists every profile.
var Profiles = []Profile{Instant, Realistic, Bench}

// ParseProfile returns the profile named s; "" is Instant.
func ParseProfile(s string) (Profile, error) {
	if s == "" {
		return Instant, nil
	}
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown profile %q: want instant, realistic or bench", s)
}

// Timing is one delay of the Realistic profile, at time scale 1: kwok
// picks a duration uniformly between Min and Max.
type Timing struct {
	// Name is the role, e.g. "database"; stages are named after it.
	Name string
	// Keys select the pods of the role: "<app.kubernetes.io/name>/<app.kubernetes.io/component>"
	// label values. Empty for the fallback role, which takes every other pod.
	Keys     []string
	Min, Max time.Duration
	// What the delay stands for, and where the figure comes from.
	What, Source string
}

// RoleTimings are the start delays of the Realistic profile: from the
// moment the kubelet accepts a pod (images pulled, containers created,
// process started, readiness probe passed) to Ready, by role. The last one
// is the fallback for pods of no known role. Values are
// "<chart>/<component>" of the store charts' labels.
var RoleTimings = []Timing{
	{Name: "database", Keys: []string{"woocommerce/mysql", "medusa/postgres"}, Min: 20 * time.Second, Max: 60 * time.Second,
		What:   "MySQL or PostgreSQL: pull, initialise the data directory on first start, readiness probe",
		Source: "issue #11 (the first start initialises an empty data directory; a cold pull)"},
	{Name: "cache", Keys: []string{"medusa/redis"}, Min: 3 * time.Second, Max: 10 * time.Second,
		What:   "Redis: pull and start",
		Source: "our estimate: a small image, starts in under a second"},
	{Name: "wordpress", Keys: []string{"woocommerce/wordpress"}, Min: 10 * time.Second, Max: 30 * time.Second,
		What:   "WordPress (Apache + PHP): pull, copy of the core files on first start, probe",
		Source: "issue #11"},
	{Name: "medusa-server", Keys: []string{"medusa/server", "medusa/worker"}, Min: 30 * time.Second, Max: 90 * time.Second,
		What:   "Medusa server and worker: the server's init container migrates the schema, then Node.js boots and loads modules",
		Source: "issue #11 (Medusa server); the worker runs the same image and boot"},
	{Name: "storefront", Keys: []string{"medusa/storefront"}, Min: 10 * time.Second, Max: 30 * time.Second,
		What:   "Next.js storefront: pull and start",
		Source: "issue #11"},
	{Name: "other", Min: 2 * time.Second, Max: 10 * time.Second,
		What:   "any other pod",
		Source: "our estimate: a small image pull and start"},
}

// JobTimings are the run times of Jobs' pods in the Realistic profile,
// from Running to Succeeded, by role; the last one is the fallback.
var JobTimings = []Timing{
	{Name: "woocommerce-setup", Keys: []string{"woocommerce/setup"}, Min: 60 * time.Second, Max: 180 * time.Second,
		What:   "WP-CLI installs WordPress, activates WooCommerce, imports the sample products",
		Source: "issue #11"},
	{Name: "medusa-migrate", Keys: []string{"medusa/migrate"}, Min: 30 * time.Second, Max: 90 * time.Second,
		What:   "medusa db:migrate before an upgrade",
		Source: "issue #11"},
	{Name: "medusa-setup", Keys: []string{"medusa/setup"}, Min: 30 * time.Second, Max: 90 * time.Second,
		What:   "admin user, sample data, publishable key",
		Source: "our estimate, like the migrations: one Node.js boot plus a few hundred inserts"},
	{Name: "other", Min: 5 * time.Second, Max: 15 * time.Second,
		What:   "any other Job",
		Source: "our estimate"},
}

// FailureTimings are the other delays of the Realistic profile.
var FailureTimings = struct {
	JobStart, PullError, PullBackOff, Crash, CrashBackOff, Spell, JobFail Timing
}{
	JobStart:     Timing{Name: "job-start", Min: 2 * time.Second, Max: 8 * time.Second, What: "a Job's pod: image pull and start", Source: "our estimate"},
	PullError:    Timing{Name: "pull-error", Min: 1 * time.Second, Max: 5 * time.Second, What: "a failed pull is reported (ErrImagePull), then ImagePullBackOff", Source: "our estimate"},
	PullBackOff:  Timing{Name: "pull-backoff", Min: 10 * time.Second, Max: 30 * time.Second, What: "ImagePullBackOff before the pull succeeds", Source: "kubelet image back-off starts at 10 s and doubles"},
	Crash:        Timing{Name: "crash", Min: 3 * time.Second, Max: 10 * time.Second, What: "a container that crashes at start runs this long", Source: "our estimate"},
	CrashBackOff: Timing{Name: "crash-backoff", Min: 10 * time.Second, Max: 20 * time.Second, What: "CrashLoopBackOff before the restart (then the role's start delay again)", Source: "kubelet restart back-off starts at 10 s and doubles"},
	Spell:        Timing{Name: "restart-spell", Min: 2 * time.Minute, Max: 10 * time.Minute, What: "a Ready pod drawn for a restart spell (OOM kill, failed liveness probe) is killed this long after it became Ready", Source: "our estimate"},
	JobFail:      Timing{Name: "job-fail", Min: 5 * time.Second, Max: 20 * time.Second, What: "a failing Job run exits with code 1 after this long; the Job controller retries after its back-off (10 s, doubling)", Source: "our estimate"},
}

// DefaultFailurePercent is the share, in percent, of each draw of the
// Realistic profile that fails: image pulls, container starts, Ready pods
// (restart spells) and Job runs.
const DefaultFailurePercent = 3

// Scale returns d multiplied by the time scale (1 when scale is 0).
func Scale(d time.Duration, scale float64) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	return time.Duration(math.Round(float64(d) * scale))
}

//go:embed kwok-faults.yaml
var kwokFaults []byte

//go:embed kwok-realistic.yaml.tmpl
var kwokRealistic string

// kwokConfig returns kwok's configuration for the profile of o.
func kwokConfig(o Options) ([]byte, error) {
	docs := splitYAML(kwokStages)
	if o.Profile == Realistic {
		realistic, err := renderRealistic(o)
		if err != nil {
			return nil, err
		}
		kept := docs[:0]
		for _, d := range docs {
			if n := stageName(d); n != "pod-ready" && n != "pod-complete" {
				kept = append(kept, d)
			}
		}
		docs = append(kept, splitYAML(realistic)...)
	}
	docs = append(docs, splitYAML(kwokFaults)...)
	var out bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(d)
	}
	return out.Bytes(), nil
}

// splitYAML splits a multi-document YAML file at its "---" lines, dropping
// documents without a Stage.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---\n")) {
		d = bytes.TrimLeft(d, "\n")
		if stageName(d) == "" {
			continue
		}
		if !bytes.HasSuffix(d, []byte("\n")) {
			d = append(d, '\n')
		}
		docs = append(docs, d)
	}
	return docs
}

// stageName returns the metadata.name of a Stage document, or "".
func stageName(doc []byte) string {
	_, rest, ok := strings.Cut(string(doc), "\nkind: Stage\nmetadata:\n  name: ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(name)
}

// renderRealistic renders kwok-realistic.yaml.tmpl for o.
func renderRealistic(o Options) ([]byte, error) {
	type delay struct {
		Name, Comment string
		Keys, Others  []string
		Min, Max      int64
	}
	ms := func(d time.Duration) int64 { return Scale(d, o.TimeScale).Milliseconds() }
	conv := func(ts []Timing) []delay {
		var others []string
		for _, t := range ts {
			others = append(others, t.Keys...)
		}
		var out []delay
		for _, t := range ts {
			out = append(out, delay{Name: t.Name, Comment: t.What, Keys: t.Keys, Others: others, Min: ms(t.Min), Max: ms(t.Max)})
		}
		return out
	}
	one := func(t Timing) delay { return conv([]Timing{t})[0] }
	failures := o.FailurePercent
	if failures == 0 {
		failures = DefaultFailurePercent
	}
	if o.NoFailures || failures < 0 {
		failures = 0
	}
	if failures > 100 {
		return nil, fmt.Errorf("failure percent %d over 100", failures)
	}
	f := FailureTimings
	data := map[string]any{
		"FailurePercent": failures,
		"Roles":          conv(RoleTimings),
		"JobRoles":       conv(JobTimings),
		"JobStart":       one(f.JobStart),
		"PullError":      one(f.PullError),
		"PullBackOff":    one(f.PullBackOff),
		"Crash":          one(f.Crash),
		"CrashBackOff":   one(f.CrashBackOff),
		"Spell":          one(f.Spell),
		"JobFail":        one(f.JobFail),
	}
	funcs := template.FuncMap{
		"sub": func(a, b int) int { return a - b },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
		"quoteList": func(vs []string) string {
			q := make([]string, len(vs))
			for i, v := range vs {
				q[i] = strconv.Quote(v)
			}
			return "[" + strings.Join(q, ", ") + "]"
		},
	}
	t, err := template.New("kwok-realistic").Delims("[[", "]]").Funcs(funcs).Option("missingkey=error").Parse(kwokRealistic)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
