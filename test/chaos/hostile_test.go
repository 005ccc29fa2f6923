package chaos_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storeops/storeops/web"
)

// pushRefused commits content as stores.yaml, sends the webhook and waits
// until the daemon recorded the revision as refused; it fails if any
// cluster write happened meanwhile.
func (e *env) pushRefused(d *daemon, what, content string) {
	e.t.Helper()
	base := e.log.len()
	rev := e.repo.Commit(e.t, map[string]string{"stores.yaml": content}, "hostile: "+what)
	if code := d.hook(rev); code != http.StatusAccepted {
		e.t.Fatalf("%s: webhook answered %d", what, code)
	}
	var rec *web.SyncList
	d.waitUntil(what+" refused", func() bool {
		var list web.SyncList
		if !d.getJSON("/api/v1/syncs", &list) {
			return false
		}
		for _, s := range list.Syncs {
			// A file too large to fetch is refused before it has a
			// revision: its record names the webhook's revision.
			if s.Revision == rev || s.Refused != nil && strings.Contains(s.Trigger, rev[:12]) {
				rec = &list
				return true
			}
		}
		return false
	})
	for _, s := range rec.Syncs {
		if s.Revision == rev && s.Refused == nil || (s.Revision == rev || strings.Contains(s.Trigger, rev[:12])) && len(s.Actions) > 0 {
			e.t.Errorf("%s: revision %s was not refused: %+v", what, short(rev), s)
		}
	}
	var writes []request
	for _, w := range e.log.writesSince(base) {
		// The readiness marks and phase label on a store's namespace follow
		// its pods (the realistic profile restarts some at random), not
		// the revision: they are not writes of the refused revision.
		if (w.Method == http.MethodPut || w.Method == http.MethodPatch) && isNamespacePath(w.Path) {
			continue
		}
		writes = append(writes, w)
	}
	if len(writes) > 0 {
		e.t.Errorf("%s: %d cluster writes for a refused revision, first %s %s", what, len(writes), writes[0].Method, writes[0].Path)
	}
	// The daemon stays responsive.
	if code := d.get("/healthz"); code != http.StatusOK {
		e.t.Errorf("%s: /healthz answered %d", what, code)
	}
}

// isNamespacePath reports whether path is that of a namespace object
// itself (/api/v1/namespaces/<name>).
func isNamespacePath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/v1/namespaces/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}

// hostileFiles are generated stores.yaml files that must all be refused.
func hostileFiles() map[string]string {
	files := map[string]string{}
	// A billion laughs: aliases are refused before they are expanded.
	var bomb strings.Builder
	bomb.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&bomb, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	bomb.WriteString("stores:\n  - name: chaos-h-bomb\n    type: woocommerce\n    options: {title: *i}\n")
	files["alias bomb"] = bomb.String()
	// Over --max-bytes (1 MiB), mostly comments.
	files["2 MiB file"] = "stores:\n  - {name: chaos-h-big, type: woocommerce}\n" + strings.Repeat("# padding padding padding padding padding padding padding\n", 2<<20/58)
	// Deep nesting.
	files["deep nesting"] = "stores: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"
	// More than --max-stores.
	var many strings.Builder
	many.WriteString("stores:\n")
	for i := 0; i < 101; i++ {
		fmt.Fprintf(&many, "  - {name: chaos-h-many-%d, type: woocommerce}\n", i)
	}
	files["101 stores"] = many.String()
	// Names that try path, label, template and markdown injection.
	for what, name := range map[string]string{
		"name with path traversal":      `../../kube-system`,
		"name with a slash":             `a/b`,
		"name with a label selector":    `x,app.kubernetes.io/managed-by=storeops`,
		"name with a template":          `{{ .Release.Name }}`,
		"name with markdown and script": `"[x](javascript:alert(1))<script>alert(1)</script>"`,
		"name with a newline":           `"a\nb"`,
		"name with NUL":                 `"a\u0000b"`,
		"name too long":                 strings.Repeat("a", 58),
	} {
		files[what] = "stores:\n  - name: " + name + "\n    type: woocommerce\n"
	}
	files["domain with a path"] = "stores:\n  - name: chaos-h-dom\n    type: woocommerce\n    domain: shop.example.com/../../admin\n"
	files["title over 100 characters"] = "stores:\n  - name: chaos-h-long\n    type: woocommerce\n    options: {title: " + strings.Repeat("x", 101) + "}\n"
	files["unknown field with a template"] = "stores:\n  - name: chaos-h-x\n    type: woocommerce\n    image: '{{ .Values.image }}'\n"
	files["not UTF-8"] = "stores:\n  - name: chaos-h-\xff\xfe\n    type: woocommerce\n"
	files["binary"] = "\x00\x01\x02\x03" + strings.Repeat("\x00", 1000)
	files["empty stores replaced by a scalar"] = "stores: 42\n"
	return files
}

// Case 4: hostile input. Every malformed stores.yaml of the corpus
// (render/testdata/invalid) and generated hostile files (alias bombs, huge,
// deep, injection in names) are pushed as commits: each is refused with no
// cluster write. A store whose title tries template, script and markdown
// injection installs with the title taken literally and shown escaped.
// Forged, replayed, truncated, oversized and mistyped webhooks trigger
// nothing; slow-loris connections do not make the daemon unresponsive and
// are closed; the API and dashboard refuse unauthenticated, cross-site,
// script-carrying and path-traversing requests.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "4 hostile input", "host", map[string]storeSpec{"chaos-h-one": {Type: "woocommerce"}})
	// The corpus's limits (render's tests): too-large.yaml and
	// too-many-stores.yaml are invalid under them only.
	e.extra = []string{"--dashboard-read-auth", "--max-bytes", "4096", "--max-stores", "5"}
	d := e.start("a")
	auth := d.authHeader
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)

	t.Run("corpus", func(t *testing.T) {
		paths, err := filepath.Glob("../../render/testdata/invalid/*.yaml")
		if err != nil || len(paths) == 0 {
			t.Fatalf("the malformed corpus: %v (%d files)", err, len(paths))
		}
		sort.Strings(paths)
		if !full {
			paths = sample(paths, 4)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			e.res.Iterations++
			e.pushRefused(d, filepath.Base(p), string(b))
		}
	})
	t.Run("generated", func(t *testing.T) {
		files := hostileFiles()
		var names []string
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		if !full {
			names = sample(names, 3)
			names = append(names, "alias bomb", "2 MiB file")
		}
		for _, n := range names {
			e.res.Iterations++
			e.pushRefused(d, n, files[n])
		}
	})
	// Back to the good file: nothing of it was touched.
	rev = e.commit("restore")
	d.hook(rev)
	e.waitConverged(d, rev)
	e.res.Converged++

	t.Run("titles", func(t *testing.T) {
		e.res.Iterations++
		title := `{{ .Values }}</script><script>alert(1)</script>[x](javascript:alert(1)) ${HOME} $(id) %s '"` + "`"
		e.declared["chaos-h-title"] = storeSpec{Type: "woocommerce", Title: title}
		rev := e.commit("a hostile title")
		d.hook(rev)
		e.waitConverged(d, rev)
		e.res.Converged++
		values := releaseConfig(t, e, "store-chaos-h-title")
		if store, _ := values["store"].(map[string]any); store == nil || store["title"] != title {
			t.Errorf("the title is not in the release's values as written: %v", values)
		}
		for _, path := range []string{"/", "/stores/chaos-h-title", "/sync"} {
			code, body := d.fetch(path, auth)
			if code != http.StatusOK {
				t.Errorf("GET %s: %d", path, code)
			}
			if bytes.Contains(body, []byte("<script>alert(1)")) || bytes.Contains(body, []byte(`href="javascript:`)) {
				t.Errorf("GET %s shows the title unescaped", path)
			}
		}
		code, body := d.fetch("/api/v1/stores/chaos-h-title", auth)
		if code != http.StatusOK || !json.Valid(body) {
			t.Errorf("GET /api/v1/stores/chaos-h-title: %d %s", code, body)
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		webhookAttacks(t, e, d)
	})
	t.Run("slow-loris", func(t *testing.T) {
		slowLoris(t, e, d)
	})
	t.Run("http", func(t *testing.T) {
		hostileHTTP(t, e, d, auth)
	})
	e.check()
}

// sample picks n of items spread over the list.
func sample(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, items[i*len(items)/n])
	}
	return out
}

// releaseConfig returns the user-supplied values of the deployed release
// in ns, as Helm stored them.
func releaseConfig(t *testing.T, e *env, ns string) map[string]any {
	t.Helper()
	list, err := e.c.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,status=deployed"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("deployed release in %s: %v (%d)", ns, err, len(list.Items))
	}
	raw, err := base64.StdEncoding.DecodeString(string(list.Items[0].Data["release"]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var rel struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(js, &rel); err != nil {
		t.Fatal(err)
	}
	return rel.Config
}

// syncsSince is the number of syncs the daemon started after since (the
// history is capped, so the count of all would saturate).
func syncsSince(t *testing.T, d *daemon, since time.Time) (int, []string) {
	t.Helper()
	var list web.SyncList
	if !d.getJSON("/api/v1/syncs", &list) {
		t.Fatal("GET /api/v1/syncs failed")
	}
	var revs []string
	for _, s := range list.Syncs {
		if s.Start.After(since) {
			revs = append(revs, s.Trigger+"@"+short(s.Revision))
		}
	}
	return len(revs), revs
}

func webhookAttacks(t *testing.T, e *env, d *daemon) {
	began := time.Now()
	infoRefs := e.srv.Counts().InfoRefs
	rev := e.repo.Head(t, "main")
	body, _ := json.Marshal(map[string]string{"ref": "refs/heads/main", "after": rev})
	big := append(append([]byte(`{"ref":"refs/heads/main","after":"`+rev+`","pad":"`), bytes.Repeat([]byte("x"), 1<<20)...), []byte(`"}`)...)
	for _, a := range []struct {
		what        string
		contentType string
		body        []byte
		sig         string
		want        []int
	}{
		{"forged signature", "application/json", body, sign("not-the-secret", body), []int{401, 403}},
		{"no signature", "application/json", body, "", []int{401, 403}},
		{"signature of another body", "application/json", body, sign(e.hookKey, append([]byte(" "), body...)), []int{401, 403}},
		{"truncated body", "application/json", body[:len(body)/2], sign(e.hookKey, body), []int{401, 403}},
		{"malformed signature", "application/json", body, "sha256=zz" + strings.Repeat("0", 62), []int{400, 401, 403}},
		{"sha1 signature", "application/json", body, "sha1=" + strings.Repeat("0", 40), []int{400, 401, 403}},
		{"oversized", "application/json", big, sign(e.hookKey, big), []int{413}},
		{"oversized unsigned", "application/json", big, "", []int{401, 403, 413}},
	} {
		e.res.Iterations++
		if code := d.post("/hooks/generic", a.contentType, a.body, a.sig, "chaos-"+randomHex(8)); !oneOf(code, a.want) {
			t.Errorf("webhook %s: answered %d, want one of %v", a.what, code, a.want)
		}
	}
	// Other providers are not enabled.
	for _, p := range []string{"github", "gitlab", "gitea", "../generic", "generic/../../api/v1/status"} {
		if code := d.post("/hooks/"+p, "application/json", body, sign(e.hookKey, body), ""); code == http.StatusAccepted {
			t.Errorf("webhook /hooks/%s accepted", p)
		}
	}
	// A wrong content type with a valid signature: not a 5xx.
	if code := d.post("/hooks/generic", "text/plain", body, sign(e.hookKey, body), "chaos-"+randomHex(8)); code >= 500 || code == 0 {
		t.Errorf("webhook with content type text/plain: %d", code)
	}
	if code := d.post("/hooks/generic", "application/x-www-form-urlencoded", []byte("payload="+string(body)), sign(e.hookKey, []byte("payload="+string(body))), "chaos-"+randomHex(8)); code >= 500 || code == 0 {
		t.Errorf("webhook as a form: %d", code)
	}
	// A replay of a delivery already received triggers nothing more.
	id := "chaos-replay-" + randomHex(8)
	if code := d.post("/hooks/generic", "application/json", body, sign(e.hookKey, body), id); code != http.StatusAccepted {
		t.Errorf("first delivery %s: %d", id, code)
	}
	d.waitUntil("the delivery's sync", func() bool {
		n, _ := syncsSince(t, d, began)
		return n > 0
	})
	after, _ := syncsSince(t, d, began)
	for i := 0; i < 3; i++ {
		if code := d.post("/hooks/generic", "application/json", body, sign(e.hookKey, body), id); code != http.StatusAccepted {
			t.Errorf("replayed delivery %s: %d", id, code)
		}
	}
	// A last, valid delivery: once its sync is recorded, no more than the
	// two syncs of valid deliveries (and, when content type and form were
	// accepted, theirs, which coalesce) were run.
	if code := d.post("/hooks/generic", "application/json", body, sign(e.hookKey, body), "chaos-last-"+randomHex(8)); code != http.StatusAccepted {
		t.Errorf("last delivery: %d", code)
	}
	d.waitUntil("the last delivery's sync", func() bool {
		n, _ := syncsSince(t, d, began)
		return n > after
	})
	n, revs := syncsSince(t, d, began)
	if n > 4 {
		t.Errorf("%d syncs after the attacks, want at most 4 (valid deliveries only): %v", n, revs)
	}
	t.Logf("%d syncs during the attacks: %v; Git ls-remote %d times", n, revs, e.srv.Counts().InfoRefs-infoRefs)
	e.res.Converged++
}

func oneOf(code int, want []int) bool {
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}

// slowLoris opens connections that send headers (or a body) a byte at a
// time and never finish: the daemon keeps answering others, and closes
// them.
func slowLoris(t *testing.T, e *env, d *daemon) {
	const n = 64
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		if i%2 == 0 {
			fmt.Fprintf(c, "POST /hooks/generic HTTP/1.1\r\nHost: %s\r\nX-Slow: ", d.addr)
		} else {
			fmt.Fprintf(c, "POST /hooks/generic HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"ref\":", d.addr)
		}
		conns = append(conns, c)
	}
	e.res.Iterations++
	// The daemon answers while they hang.
	for _, p := range []string{"/healthz", "/readyz", "/api/v1/status"} {
		h := http.Header{}
		if strings.HasPrefix(p, "/api/") {
			h = d.authHeader
		}
		if code, _ := d.fetch(p, h); code != http.StatusOK {
			t.Errorf("GET %s during slow-loris: %d", p, code)
		}
	}
	rev := e.repo.Head(t, "main")
	if code := d.hook(rev); code != http.StatusAccepted {
		t.Errorf("webhook during slow-loris: %d", code)
	}
	// The daemon closes them (its read timeouts), however long that takes
	// on a busy machine.
	for i, c := range conns {
		if i%2 == 1 && !full {
			continue // a body that never ends waits for the read timeout (a minute): only in the full run
		}
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("slow connection %d still open after %s", i, waitFor)
		}
	}
	e.res.Converged++
}

// hostileHTTP sends unauthenticated, cross-site, script-carrying and
// path-traversing requests to the API and the dashboard.
func hostileHTTP(t *testing.T, e *env, d *daemon, auth http.Header) {
	// Unauthenticated: refused.
	for _, p := range []string{"/api/v1/stores", "/api/v1/status", "/api/v1/stores/chaos-h-one", "/api/v1/syncs", "/", "/stores/chaos-h-one", "/sync"} {
		e.res.Iterations++
		if code, _ := d.fetch(p, nil); code/100 == 2 {
			t.Errorf("GET %s without credentials: %d", p, code)
		}
		if code, _ := d.fetch(p, http.Header{"Authorization": {"Bearer wrong"}}); code/100 == 2 {
			t.Errorf("GET %s with a wrong token: 200", p)
		}
		if code, _ := d.fetch(p, http.Header{"X-Forwarded-User": {"admin"}}); code/100 == 2 {
			t.Errorf("GET %s with an untrusted X-Forwarded-User: 200", p)
		}
	}
	// Cross-site form posts are refused.
	for _, p := range []string{"/login", "/logout", "/new-store", "/stores/chaos-h-one/delete"} {
		e.res.Iterations++
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+p, strings.NewReader("user=chaos&password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.out.add("POST "+p, string(b))
		if resp.StatusCode < 400 {
			t.Errorf("cross-site POST %s: %d", p, resp.StatusCode)
		}
	}
	// Script in paths and queries is never echoed raw; traversal reads no file.
	for _, p := range []string{
		"/stores/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"/api/v1/stores/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"/?q=%3Cscript%3Ealert(1)%3C/script%3E",
		"/login?next=javascript:alert(1)",
		"/login?next=%3Cscript%3Ealert(1)%3C/script%3E",
		"/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/static/%2e%2e/%2e%2e/go.mod",
		"/static/../../../../etc/passwd",
		"/api/v1/stores/..%2f..%2fsecrets",
		"/api/v1/stores/chaos-h-one%2f..%2f..%2fstatus",
		"/api/v1/stores/chaos-h-one/pods?namespace=kube-system",
		"/api/v1/stores/..",
		"//etc/passwd",
	} {
		e.res.Iterations++
		for _, h := range []http.Header{nil, auth} {
			code, body := d.fetch(p, h)
			if code == 0 || code >= 500 {
				t.Errorf("GET %s: %d", p, code)
			}
			for _, bad := range []string{"<script>alert(1)", "root:x:0:0", "module github.com/storeops", `href="javascript:`} {
				if bytes.Contains(body, []byte(bad)) {
					t.Errorf("GET %s answered with %q", p, bad)
				}
			}
		}
	}
	// Methods other than GET on the API.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, "http://"+d.addr+"/api/v1/stores/chaos-h-one", strings.NewReader("{}"))
		req.Header = auth.Clone()
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s /api/v1/stores/chaos-h-one: %d", m, resp.StatusCode)
		}
	}
	e.res.Converged++
}
