package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	"sigs.k8s.io/yaml"
)

// EnvToken holds the API token of `storeops get` when no --token-file is
// given.
const EnvToken = "STOREOPS_TOKEN"

// apiFlags say which running daemon to ask, and how.
type apiFlags struct {
	server    string
	tokenFile string
	timeout   time.Duration
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "http://127.0.0.1:8080", "URL of a running `storeops serve`")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding an API token of --dashboard-tokens-file (or $"+EnvToken+"); needed when the daemon requires a login to read")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
}

// get fetches path from the daemon's JSON API into out.
func (f *apiFlags) get(ctx context.Context, path string, out any) error {
	if err := checkURLFlag("server", f.server); err != nil {
		return err // the token goes in --token-file, never in the URL
	}
	u, err := url.Parse(strings.TrimSuffix(f.server, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q: want http(s)://host[:port]", f.server)
	}
	token := os.Getenv(EnvToken)
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	if token != "" && u.Scheme == "http" && !forge.IsLoopback(u.Hostname()) {
		return fmt.Errorf("refusing to send the token over plain http to %s; use https", u.Hostname())
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (give an API token: --token-file or $" + EnvToken + ")"
		}
		return fmt.Errorf("GET %s: %s: %s", u.Path, resp.Status, msg)
	}
	return json.Unmarshal(body, out)
}

func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var api apiFlags
	api.register(fs)
	output := fs.String("o", "table", "output `format`: table, wide, json or yaml")
	var phases multiFlag
	fs.Var(&phases, "phase", "stores: only those in this phase (repeatable)")
	limit := fs.Int("limit", 20, "syncs: how many, newest first")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops get stores [NAME...] | syncs [flags]\n\nLists the stores or the syncs of a running storeops serve, from its status API.")
		fs.PrintDefaults()
	}
	// The kind may come first (get stores -o wide) or after the flags.
	var kind string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		kind, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if kind == "" && len(rest) > 0 {
		kind, rest = rest[0], rest[1:]
	}
	if err := oneOf("o", *output, "table", "wide", "json", "yaml"); err != nil {
		fmt.Fprintln(stderr, "storeops get:", err)
		return exitUsage
	}
	var (
		out any
		err error
	)
	switch kind {
	case "stores", "store":
		q := url.Values{}
		for _, p := range phases {
			q.Add("phase", p)
		}
		var list web.StoreList
		if err = api.get(ctx, "/api/v1/stores?"+q.Encode(), &list); err == nil {
			list.Stores = onlyNamed(list, rest)
			out = list
		}
	case "syncs", "sync":
		if len(rest) > 0 {
			fmt.Fprintln(stderr, "storeops get syncs: takes no names")
			return exitUsage
		}
		var list web.SyncList
		if err = api.get(ctx, fmt.Sprintf("/api/v1/syncs?limit=%d", *limit), &list); err == nil {
			out = list
		}
	default:
		fmt.Fprintf(stderr, "storeops get: want stores or syncs, not %q\n", kind)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(stderr, "storeops get:", err)
		return exitFailed
	}
	switch *output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	case "yaml":
		b, _ := json.Marshal(out)
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			fmt.Fprintln(stderr, "storeops get:", err)
			return exitFailed
		}
		_, _ = stdout.Write(y)
	default:
		wide := *output == "wide"
		switch v := out.(type) {
		case web.StoreList:
			printStoreList(stdout, v, wide, time.Now())
		case web.SyncList:
			printSyncs(stdout, v, wide)
		}
	}
	return exitOK
}

// onlyNamed keeps the stores named in names (all when none is).
func onlyNamed(list web.StoreList, names []string) []reconcile.StoreStatus {
	if len(names) == 0 {
		return list.Stores
	}
	var out []reconcile.StoreStatus
	for _, s := range list.Stores {
		for _, n := range names {
			if s.Name == n {
				out = append(out, s)
			}
		}
	}
	return out
}

func printStoreList(w io.Writer, list web.StoreList, wide bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if wide {
		fmt.Fprintln(tw, "NAME\tTYPE\tPLAN\tPHASE\tAGE\tDOMAIN\tAPPLIED\tRELEASE\tCHART\tMESSAGE")
	} else {
		fmt.Fprintln(tw, "NAME\tTYPE\tPLAN\tPHASE\tAGE\tMESSAGE")
	}
	for _, s := range list.Stores {
		age := "-"
		if !s.Since.IsZero() {
			age = humanAge(now.Sub(s.Since))
		}
		msg := s.Message
		if !wide && len([]rune(msg)) > 60 {
			msg = string([]rune(msg)[:59]) + "…"
		}
		if wide {
			rel := "-"
			if s.ReleaseRevision > 0 {
				rel = fmt.Sprintf("%d (%s)", s.ReleaseRevision, s.ReleaseStatus)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Type, s.Plan, s.Phase, age, dash(s.Domain),
				dash(short(s.AppliedRevision)), rel, dash(s.ChartVersion), msg)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Type, s.Plan, s.Phase, age, msg)
		}
	}
	tw.Flush()
}

func printSyncs(w io.Writer, list web.SyncList, wide bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "REVISION\tTRIGGER\tSTARTED\tDURATION\tACTIONS\tRESULT"
	if wide {
		header += "\tDETAILS"
	}
	fmt.Fprintln(tw, header)
	for _, s := range list.Syncs {
		result, details := "ok", ""
		switch {
		case s.Refused != nil:
			result, details = "refused ("+s.Refused.Reason+")", s.Refused.Message
		case len(s.Errors) > 0:
			result, details = fmt.Sprintf("%d failed", len(s.Errors)), strings.Join(s.Errors, "; ")
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s", dash(short(s.Revision)), s.Trigger, s.Start.Local().Format(time.DateTime),
			s.Duration.Round(time.Millisecond), len(s.Actions), result)
		if wide {
			line += "\t" + details
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanAge is kubectl's style of age: 45s, 12m, 3h, 5d.
func humanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*m = append(*m, strings.Split(v, ",")...)
	return nil
}
