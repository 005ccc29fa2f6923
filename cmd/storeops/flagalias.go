package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// deprecatedFlags maps old flag names to the flags that replaced them.
// An old name still works, on the command line and as its environment
// variable, in every command that has the new flag, and prints a
// warning; it is not listed by -h nor completed.
var deprecatedFlags = map[string]string{
	// plan and sync named the repository --repo, serve --git-url (like
	// --git-branch, --git-path and the chart's git.url).
	"repo": "git-url",
}

// aliasesOf lists the deprecated names of flag name, sorted.
func aliasesOf(name string) []string {
	var out []string
	for old, cur := range deprecatedFlags {
		if cur == name {
			out = append(out, old)
		}
	}
	sort.Strings(out)
	return out
}

// rewriteDeprecated returns args with the deprecated flag names of fs
// replaced by the current ones, warning on w for each. It reads args as
// fs.Parse does: flags up to the first non-flag argument or "--".
func rewriteDeprecated(fs *flag.FlagSet, args []string, w io.Writer) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		dashes, name := "-", a[1:]
		if strings.HasPrefix(name, "-") {
			dashes, name = "--", name[1:]
		}
		name, value, hasValue := strings.Cut(name, "=")
		if cur, ok := deprecatedFlags[name]; ok && fs.Lookup(name) == nil && fs.Lookup(cur) != nil {
			fmt.Fprintf(w, "storeops %s: --%s is deprecated, use --%s\n", fs.Name(), name, cur)
			name = cur
			out[i] = dashes + name
			if hasValue {
				out[i] += "=" + value
			}
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // the flag's value
		}
	}
	return out
}

// deprecatedEnv returns a getenv that falls back, for the variable of a
// flag, to the variables of the flag's deprecated names, warning on w.
func deprecatedEnv(fs *flag.FlagSet, getenv func(string) (string, bool), w io.Writer) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := getenv(k); ok {
			return v, ok
		}
		var found string
		fs.VisitAll(func(f *flag.Flag) {
			if flagEnv(f.Name) == k {
				found = f.Name
			}
		})
		for _, old := range aliasesOf(found) {
			if v, ok := getenv(flagEnv(old)); ok {
				fmt.Fprintf(w, "storeops %s: $%s is deprecated, use $%s\n", fs.Name(), flagEnv(old), k)
				return v, ok
			}
		}
		return "", false
	}
}
