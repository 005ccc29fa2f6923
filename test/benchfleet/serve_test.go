package benchfleet_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	"k8s.io/client-go/rest"
)

const webhookSecret = "bench-fleet-webhook-secret"

// apiCounter is a loopback reverse proxy in front of the API server that
// counts the requests passing through it. storeops talks to it with a
// kubeconfig of its own; the proxy forwards with the admin credentials.
// Leader-election Lease requests are counted apart: a leader renews its
// Lease every few seconds whatever it does.
type apiCounter struct {
	url                      string
	total, mutating, watches atomic.Int64
	leases                   atomic.Int64
	mu                       sync.Mutex
	byVerb                   map[string]int64 // "POST secrets", for the log
	tracing                  bool
	traced                   []string // the requests (watches aside) while tracing
	srv                      *http.Server
}

func startAPICounter(b *testing.B, cfg *rest.Config) *apiCounter {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		b.Fatal(err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     rt,
		FlushInterval: -1, // watches stream
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	a := &apiCounter{url: "http://" + ln.Addr().String(), byVerb: map[string]int64{}}
	a.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.count(r)
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	b.Cleanup(func() { _ = a.srv.Close() })
	return a
}

func (a *apiCounter) count(r *http.Request) {
	if strings.Contains(r.URL.Path, "/leases") {
		a.leases.Add(1)
		return
	}
	a.total.Add(1)
	watch := r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true"
	a.mu.Lock()
	if a.tracing && !watch {
		a.traced = append(a.traced, r.Method+" "+r.URL.RequestURI())
	}
	a.mu.Unlock()
	switch {
	case watch:
		a.watches.Add(1)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		a.mutating.Add(1)
		// /api/v1/namespaces, /api/v1/namespaces/NS,
		// /apis/G/V/namespaces/NS/RESOURCE[/NAME[/SUB]]
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		res := parts[len(parts)-1]
		if i := slices.Index(parts, "namespaces"); i >= 0 {
			res = "namespaces"
			if i+2 < len(parts) {
				res = parts[i+2]
				if i+4 < len(parts) {
					res += "/" + parts[i+4]
				}
			}
		}
		a.mu.Lock()
		a.byVerb[r.Method+" "+res]++
		a.mu.Unlock()
	}
}

// trace starts or stops recording the requests other than watches, and
// returns those recorded since the last start.
func (a *apiCounter) trace(on bool) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.traced
	a.tracing, a.traced = on, nil
	return out
}

type apiCounts struct{ total, mutating, watches int64 }

func (a *apiCounter) snapshot() apiCounts {
	return apiCounts{a.total.Load(), a.mutating.Load(), a.watches.Load()}
}

func (c apiCounts) since(o apiCounts) apiCounts {
	return apiCounts{c.total - o.total, c.mutating - o.mutating, c.watches - o.watches}
}

func (a *apiCounter) verbs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := make([]string, 0, len(a.byVerb))
	for k := range a.byVerb {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s=%d", k, a.byVerb[k]))
	}
	return strings.Join(s, " ")
}

// kubeconfig writes a kubeconfig naming the proxy, without credentials.
func (a *apiCounter) kubeconfig(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "kubeconfig")
	y := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: counted, cluster: {server: %q}}]
users: [{name: counted, user: {}}]
contexts: [{name: counted, context: {cluster: counted, user: counted}}]
current-context: counted
`, a.url)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// plannedLog records, from the daemon's JSON log, when each store's first
// action was planned ("planned ... store=X"), when its last action ended
// ("applied") and when it was first recorded Ready ("readiness recorded"
// with the Ready phase label).
type plannedLog struct {
	mu      sync.Mutex
	first   map[string]time.Time
	applied map[string]time.Time
	ready   map[string]time.Time
	// fetched and accepted are, by (abbreviated) revision, when the Git
	// source had fetched it and when the reconciler had accepted it.
	fetched, accepted map[string]time.Time
	tail              bytes.Buffer // the last lines, for a failure
	pw                *io.PipeWriter
}

func newPlannedLog() *plannedLog {
	pr, pw := io.Pipe()
	l := &plannedLog{first: map[string]time.Time{}, applied: map[string]time.Time{}, ready: map[string]time.Time{},
		fetched: map[string]time.Time{}, accepted: map[string]time.Time{}, pw: pw}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var e struct {
				Time     time.Time         `json:"time"`
				Msg      string            `json:"msg"`
				Store    string            `json:"store"`
				Revision string            `json:"revision"`
				Labels   map[string]string `json:"labels"`
			}
			_ = json.Unmarshal(line, &e)
			l.mu.Lock()
			switch {
			case e.Msg == "fetched new revision" && e.Revision != "": // gitsource's
				l.fetched[e.Revision] = e.Time
			case e.Msg == "revision accepted" && e.Revision != "":
				l.accepted[e.Revision] = e.Time
			case e.Store == "":
			case e.Msg == "planned":
				if _, ok := l.first[e.Store]; !ok {
					l.first[e.Store] = e.Time
				}
			case e.Msg == "applied":
				l.applied[e.Store] = e.Time
			case e.Msg == "readiness recorded" && e.Labels[reconcile.LabelPhase] == string(reconcile.PhaseReady):
				if _, ok := l.ready[e.Store]; !ok {
					l.ready[e.Store] = e.Time
				}
			}
			if l.tail.Len() > 1<<16 {
				rest := append([]byte(nil), l.tail.Bytes()[l.tail.Len()-1<<15:]...)
				l.tail.Reset()
				l.tail.Write(rest)
			}
			l.tail.Write(line)
			l.tail.WriteByte('\n')
			l.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return l
}

func (l *plannedLog) Write(p []byte) (int, error) { return l.pw.Write(p) }

func (l *plannedLog) firstPlanned(store string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.first[store]
	return t, ok
}

// ofRevision returns the time m (fetched or accepted) holds for the
// abbreviation of revision.
func (l *plannedLog) ofRevision(m map[string]time.Time, revision string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for short, t := range m {
		if strings.HasPrefix(revision, short) {
			return t, true
		}
	}
	return time.Time{}, false
}

// lastOf returns the latest time of names in m (one of the log's maps)
// after t0, and how many of names it holds.
func (l *plannedLog) lastOf(m map[string]time.Time, names []string, t0 time.Time) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Duration
	n := 0
	for _, name := range names {
		if t, ok := m[name]; ok {
			n++
			last = max(last, t.Sub(t0))
		}
	}
	return last, n
}

func (l *plannedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tail.String()
}

// served is one running storeops serve with its Git repository and the
// API request counter in front of the cluster.
type served struct {
	b        *testing.B
	addr     string
	pprof    string
	instance string
	cmd      *exec.Cmd
	done     chan error
	log      *plannedLog
	repo     *gittest.Repo
	git      *gittest.Server
	api      *apiCounter
	stores   []string // the stores.yaml lines of the stores declared
	delivery int
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServe(b *testing.B, c *testcluster.Cluster, n int, instance string) *served {
	s := launchServe(b, c, n, instance, nil)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var st web.Status
		if s.get("/api/v1/status", &st) == http.StatusOK && st.Leader && st.LastSync != nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("storeops serve not leading with a sync within 3 minutes:\n%s", s.log.String())
		}
		select {
		case err := <-s.done:
			b.Fatalf("storeops serve exited: %v\n%s", err, s.log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return s
}

// launchServe starts storeops serve for instance with a repository of its
// own and a request counter in front of the cluster, or, when group is
// set, on group's repository and through its counter (another replica);
// extra are more flags.
func launchServe(b *testing.B, c *testcluster.Cluster, n int, instance string, group *served, extra ...string) *served {
	s := &served{b: b, addr: freeAddr(b), pprof: freeAddr(b), instance: instance, done: make(chan error, 1), log: newPlannedLog()}
	if group == nil {
		s.git = gittest.NewServer(b)
		s.repo = s.git.NewRepo(b, "config", map[string]string{"stores.yaml": "stores: []\n"})
		s.api = startAPICounter(b, c.Config)
	} else {
		s.git, s.repo, s.api = group.git, group.repo, group.api
	}
	args := []string{"serve",
		"--git-url", s.repo.URL(),
		"--kubeconfig", s.api.kubeconfig(b),
		"--listen", s.addr,
		"--pprof-listen", s.pprof,
		"--schedule", "@every 1h", // syncs come from webhooks here
		"--webhooks", "generic",
		"--anonymous-reads",
		"--workers", strconv.Itoa(workers),
		"--max-stores", strconv.Itoa(2*n + 100),
		"--max-delete-share", "1",
		"--instance", instance,
		"--leader-election-name", instance,
		"--log-format", "json"}
	s.cmd = exec.Command(binary, append(args, extra...)...)
	s.cmd.Env = append(os.Environ(), "STOREOPS_WEBHOOK_SECRET_GENERIC="+webhookSecret)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	b.Cleanup(s.stop)
	return s
}

func (s *served) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = s.log.pw.Close()
}

func (s *served) get(path string, v any) int {
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			return 0
		}
	}
	return resp.StatusCode
}

// histogram returns the sum and count of a histogram of the daemon's
// /metrics, over all its labels.
func (s *served) histogram(name string) (sum float64, count float64) {
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		metric, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch metric {
		case name + "_sum":
			sum += v
		case name + "_count":
			count += v
		}
	}
	return sum, count
}

// commit declares the stores of lines besides those already declared,
// pushes, and returns the new revision.
func (s *served) commit(lines []string) string {
	s.stores = append(s.stores, lines...)
	var y strings.Builder
	y.WriteString("stores:\n")
	for _, l := range s.stores {
		y.WriteString(l)
	}
	return s.repo.Commit(s.b, map[string]string{"stores.yaml": y.String()}, fmt.Sprintf("%d stores", len(s.stores)))
}

// hook sends the signed generic push webhook for revision, as a forge
// would, and returns when it was sent.
func (s *served) hook(revision string) time.Time {
	sent, err := s.tryHook(revision)
	if err != nil {
		s.b.Fatal(err)
	}
	return sent
}

func (s *served) tryHook(revision string) (time.Time, error) {
	s.delivery++
	body, _ := json.Marshal(map[string]string{"ref": "refs/heads/main", "after": revision})
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/hooks/generic", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Storeops-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Storeops-Delivery", fmt.Sprintf("bench-%s-%d", s.instance, s.delivery))
	sent := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sent, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return sent, fmt.Errorf("webhook: %d", resp.StatusCode)
	}
	return sent, nil
}

// procStat is the CPU time and peak resident memory of a process, from /proc.
type procStat struct {
	cpu    time.Duration
	hwmKiB int64
}

func readProc(pid int) procStat {
	var p procStat
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which is in parentheses.
		if i := bytes.LastIndexByte(data, ')'); i > 0 {
			f := strings.Fields(string(data[i+1:]))
			if len(f) > 13 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				p.cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
			}
		}
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				p.hwmKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	return p
}

func loadAverage() float64 {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// waitReady polls the status API until every store of names is Ready and
// returns when it saw them so.
func (s *served) waitReady(names []string, timeout time.Duration) time.Time {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		var list web.StoreList
		if s.get("/api/v1/stores", &list) == http.StatusOK {
			ready := 0
			for _, st := range list.Stores {
				if want[st.Name] && st.Phase == reconcile.PhaseReady {
					ready++
				}
			}
			if ready == len(want) {
				return time.Now()
			}
			if time.Now().After(deadline) {
				phases := map[reconcile.Phase]int{}
				for _, st := range list.Stores {
					if want[st.Name] {
						phases[st.Phase]++
					}
				}
				s.b.Fatalf("stores not Ready after %s: %v\n%s", timeout, phases, s.log.String())
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// profile fetches a CPU profile of the daemon over seconds and writes it
// to dir/name; it runs in the background and returns a wait function.
func (s *served) profile(dir, name string, seconds int) func() {
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprof, seconds))
		if err != nil {
			s.b.Logf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			s.b.Logf("profile %s: %v", name, err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

func (s *served) heapProfile(dir, name string) {
	if dir == "" {
		return
	}
	resp, err := http.Get("http://" + s.pprof + "/debug/pprof/heap")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if f, err := os.Create(filepath.Join(dir, name)); err == nil {
		_, _ = io.Copy(f, resp.Body)
		f.Close()
	}
}

// percentile returns the p-th percentile (0..100) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(ds)-1))
	return ds[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serveRun is what the serve row measures.
type serveRun struct {
	ready        time.Duration // webhook to every store of the fleet Ready
	firstActions time.Duration // webhook to the last store's first action
	applied      time.Duration // webhook to the end of the last store's last action
	marked       time.Duration // webhook to the last store's Ready recorded in the daemon's log
	api          apiCounts
	cpu          time.Duration
	hwmKiB       int64
	probes       []time.Duration // webhook to first action, sorted
	// webhook to the revision fetched, and to it accepted
	// (queued), sorted
	probesFetched, probesAccepted []time.Duration
}

// runServe declares n new stores named prefix-i, half of each type, sends the webhook
// and waits, at most limit, until they are all Ready; meanwhile it pushes
// probes stores one by one. It returns the figures and every store name
// declared.
func runServe(b *testing.B, s *served, prefix string, n, probes int, profileDir string, limit time.Duration) (serveRun, []string) {
	var r serveRun
	lines, names := fleetLines(prefix, n)
	rev := s.commit(lines)
	pid := s.cmd.Process.Pid
	api0, proc0 := s.api.snapshot(), readProc(pid)
	wait := func() {}
	if profileDir != "" {
		wait = s.profile(profileDir, fmt.Sprintf("serve-%d-install.cpu.pprof", n), 60)
	}
	t0 := s.hook(rev)

	type probe struct {
		name, revision string
		sent           time.Time
	}
	var (
		mu   sync.Mutex
		sent []probe
		perr error
	)
	probesDone := make(chan struct{})
	go func() {
		defer close(probesDone)
		time.Sleep(2 * time.Second) // the fleet is queued
		for i := range probes {
			name := fmt.Sprintf("wh%d-%d", n, i)
			rev := s.commit([]string{fmt.Sprintf("  - {name: %s, type: woocommerce}\n", name)})
			at, err := s.tryHook(rev)
			mu.Lock()
			if err != nil {
				perr = err
				mu.Unlock()
				return
			}
			sent = append(sent, probe{name, rev, at})
			mu.Unlock()
			time.Sleep(time.Until(at.Add(time.Second)))
		}
	}()

	tReady := s.waitReady(names, limit)
	r.ready = tReady.Sub(t0)
	r.api = s.api.snapshot().since(api0)
	proc1 := readProc(pid)
	r.cpu, r.hwmKiB = proc1.cpu-proc0.cpu, proc1.hwmKiB
	r.firstActions, _ = s.log.lastOf(s.log.first, names, t0)
	r.applied, _ = s.log.lastOf(s.log.applied, names, t0)
	r.marked, _ = s.log.lastOf(s.log.ready, names, t0)
	wait()
	<-probesDone
	if perr != nil {
		b.Fatalf("probe push: %v", perr)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for _, p := range sent {
		names = append(names, p.name)
		for {
			if t, ok := s.log.firstPlanned(p.name); ok {
				r.probes = append(r.probes, t.Sub(p.sent))
				if f, ok := s.log.ofRevision(s.log.fetched, p.revision); ok {
					r.probesFetched = append(r.probesFetched, f.Sub(p.sent))
				}
				if a, ok := s.log.ofRevision(s.log.accepted, p.revision); ok {
					r.probesAccepted = append(r.probesAccepted, a.Sub(p.sent))
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no action on %s within 10 minutes of its push\n%s", p.name, s.log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	slices.Sort(r.probes)
	slices.Sort(r.probesFetched)
	slices.Sort(r.probesAccepted)
	s.waitReady(names, 30*time.Minute) // the noop row needs a converged fleet
	return r, names
}

// serveNoop sends the webhook of the revision in force once every store
// is Ready and settled: it returns the time from the POST to the sync
// record seen in the status API, the record's own duration, the API
// requests through the proxy until a second after, and the Git requests.
func serveNoop(b *testing.B, s *served) (wall, rec time.Duration, api apiCounts, git int64) {
	time.Sleep(5 * time.Second) // readiness events settle
	rev := s.repo.Head(b, "main")
	s.api.trace(true)
	api0, git0 := s.api.snapshot(), s.git.Counts()
	t0 := s.hook(rev)
	deadline := t0.Add(5 * time.Minute)
	for {
		var list web.SyncList
		if s.get("/api/v1/syncs", &list) == http.StatusOK && len(list.Syncs) > 0 {
			if r := list.Syncs[0]; !r.Start.Before(t0) && !r.Running {
				wall, rec = time.Since(t0), r.Duration
				if len(r.Actions) > 0 {
					b.Errorf("converged revision acted: %+v", r.Actions)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("no sync record within 5 minutes of the webhook\n%s", s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	g := s.git.Counts()
	api = s.api.snapshot().since(api0)
	if traced := s.api.trace(false); len(traced) > 0 {
		b.Logf("requests other than watches from the no-op webhook to 1 s after its record: %s", strings.Join(traced, ", "))
	}
	return wall, rec, api, (g.InfoRefs + g.UploadPack) - (git0.InfoRefs + git0.UploadPack)
}

// report reports the figures of a status load on b.
func (r loadResult) report(b *testing.B) {
	b.ReportMetric(r.rps, "req/s")
	b.ReportMetric(ms(r.p50), "ms-p50")
	b.ReportMetric(ms(r.p99), "ms-p99")
	b.ReportMetric(ms(r.listP99), "ms-p99-list")
	b.ReportMetric(float64(r.errors), "errors")
}

// staticServer serves "{}" to every request over loopback until the
// benchmark ends, and returns its address.
func staticServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	listP99  time.Duration
	errors   int
	requests int
	// notModified is how many list requests were answered 304.
	notModified int
}

// statusLoad runs clients concurrent clients over loopback for d, each
// asking in turn for the store list, one store and the status summary.
//
// Revalidating clients keep the store list's entity tag and send it back
// (If-None-Match), as a browser or a poller does with a list it may keep
// but must revalidate.
func statusLoad(addr string, names []string, clients int, d time.Duration, revalidate bool) loadResult {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	var (
		mu         sync.Mutex
		all, lists []time.Duration
		errors     int
		wg         sync.WaitGroup
	)
	var revalidated atomic.Int64
	start := time.Now()
	end := start.Add(d)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine, myLists []time.Duration
			bad, listTag := 0, ""
			for k := i; time.Now().Before(end); k++ {
				var path string
				switch k % 3 {
				case 0:
					path = "/api/v1/stores"
				case 1:
					path = "/api/v1/stores/" + names[k%len(names)]
				default:
					path = "/api/v1/status"
				}
				t := time.Now()
				req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
				if err != nil {
					panic(err)
				}
				// Asked for by name, a gzipped body is read as it comes:
				// the time is the server's to the last byte, without the
				// 200 clients' decompression on the same 2 cores (the
				// store list of 1000 stores is megabytes uncompressed).
				req.Header.Set("Accept-Encoding", "gzip")
				if revalidate && k%3 == 0 && listTag != "" {
					req.Header.Set("If-None-Match", listTag)
				}
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == http.StatusOK && k%3 == 0:
						listTag = resp.Header.Get("ETag")
					case resp.StatusCode == http.StatusOK:
					case resp.StatusCode == http.StatusNotModified && k%3 == 0 && listTag != "":
						revalidated.Add(1)
					default:
						err = fmt.Errorf("%d", resp.StatusCode)
					}
				}
				took := time.Since(t)
				if err != nil {
					bad++
					continue
				}
				mine = append(mine, took)
				if k%3 == 0 {
					myLists = append(myLists, took)
				}
			}
			mu.Lock()
			all, lists, errors = append(all, mine...), append(lists, myLists...), errors+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	slices.Sort(lists)
	return loadResult{
		rps: float64(len(all)) / elapsed.Seconds(), p50: percentile(all, 50), p99: percentile(all, 99),
		listP99: percentile(lists, 99), errors: errors, requests: len(all), notModified: int(revalidated.Load()),
	}
}
