package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// view is what every page template gets: the layout's data and the page's
// own in Data.
type view struct {
	Title string
	Nav   string // the active navigation entry
	// Filled by render:
	User       string
	AuthMethod string
	CSRF       string
	CanPropose bool
	LoginOn    bool // static users are configured
	Snap       *reconcile.Snapshot
	Data       any
}

// errorPage is the data of error.html.
type errorPage struct {
	Status  int
	Message string
}

func (d *dashboard) fill(w http.ResponseWriter, r *http.Request, v *view) {
	id := identityOf(r.Context())
	v.User, v.AuthMethod = id.User, id.Method
	v.CSRF = d.csrfToken(id)
	v.CanPropose = d.cfg.Proposer != nil
	v.LoginOn = len(d.cfg.Auth.Users) > 0
	if v.Snap == nil {
		v.Snap = d.cfg.Board.Current()
	}
}

// pageTemplate is the layout joined with one page.
type pageTemplate = template.Template

// parseTemplates parses each page of templates/ with the layout and the
// partials, keyed by the page's file name.
func parseTemplates() (map[string]*pageTemplate, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	pages := map[string]*pageTemplate{}
	for _, n := range names {
		name := path.Base(n)
		if name == "layout.html" || name == "partials.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		pages[name] = t.Lookup("layout")
		if pages[name] == nil {
			return nil, fmt.Errorf("templates: no layout")
		}
	}
	pages["partials"] = base
	return pages, nil
}

// funcs are the template helpers. None of them returns template.HTML:
// everything shown goes through html/template's escaping.
var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago": func(t time.Time) string { return ago(time.Since(t)) },
	"dur": func(d time.Duration) string {
		switch {
		case d < time.Millisecond:
			return d.String()
		case d < time.Second:
			return d.Round(time.Millisecond).String()
		}
		return d.Round(100 * time.Millisecond).String()
	},
	"short":      shortRev,
	"phaseClass": func(p reconcile.Phase) string { return "phase-" + strings.ToLower(string(p)) },
	"phaseIcon":  phaseIcon,
	"stateClass": func(s any) string { return "state-" + strings.ToLower(fmt.Sprint(s)) },
	"mul":        func(a, b float64) float64 { return a * b },
	"statusText": http.StatusText,
	"reasonText": reasonText,
	"reasonHelp": reasonHelp,
	"summary":    summary,
	"field": func(name, label, value string, errs render.FieldErrors, hint string) formField {
		return formField{Name: name, Label: label, Value: value, Error: errs[name], Hint: hint}
	},
}

// formField is the data of the "field" template: one input with its
// label, hint and error.
type formField struct {
	Name, Label, Value, Error, Hint string
}

// reasonText names a Refusal's reason for people.
func reasonText(reason string) string {
	switch reason {
	case "InvalidConfig":
		return "stores.yaml is invalid"
	case "MassDeletion":
		return "mass-deletion guard"
	case "SourceUnavailable":
		return "Git source unavailable"
	case "UntrustedRevision":
		return "commit not signed by a trusted key"
	}
	return reason
}

// reasonHelp says what a refusal means and what to do.
func reasonHelp(reason string) string {
	const kept = "Nothing was changed in the cluster: the last good revision stays applied."
	switch reason {
	case "InvalidConfig":
		return kept + " Fix the lines above in the stores repository."
	case "MassDeletion":
		return kept + " The new revision would delete too many stores at once; an operator must confirm it explicitly."
	case "SourceUnavailable":
		return kept + " storeops cannot fetch the stores repository; it keeps retrying."
	case "UntrustedRevision":
		return kept + " Only commits signed by a key of the --verify-signatures keyring are applied: push a signed commit (git commit -S) on top."
	}
	return kept
}

// summary formats a sync's action counts, "install 1, upgrade 2", in a
// stable order; "" when nothing ran.
func summary(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func shortRev(rev string) string {
	if len(rev) > 10 {
		return rev[:10]
	}
	if rev == "" {
		return "—"
	}
	return rev
}

// phaseIcon is a symbol that tells the phases apart without colour.
func phaseIcon(p reconcile.Phase) string {
	switch p {
	case reconcile.PhaseReady:
		return "✔"
	case reconcile.PhaseFailed:
		return "✖"
	case reconcile.PhaseDegraded:
		return "▲"
	case reconcile.PhaseProvisioning:
		return "◐"
	case reconcile.PhaseDeleting:
		return "⊖"
	case reconcile.PhaseSuspended:
		return "⏸"
	case reconcile.PhaseBlocked:
		return "⛔"
	case reconcile.PhaseHeld:
		return "⏳"
	case reconcile.PhaseUnknown:
		return "?"
	}
	return "○"
}

// staticFiles serves the embedded script and stylesheet with an ETag, so
// that a browser revalidates them cheaply and sees a new build at once.
type staticFiles struct {
	files map[string]staticFile
}

type staticFile struct {
	body  []byte
	etag  string
	ctype string
}

func loadStatic() (*staticFiles, error) {
	s := &staticFiles{files: map[string]staticFile{}}
	ctypes := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		body, err := fs.ReadFile(staticFS, "static/"+e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		s.files[e.Name()] = staticFile{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctypes[path.Ext(e.Name())]}
	}
	return s, nil
}

func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request) {
	f, ok := s.files[chi.URLParam(r, "file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
