package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes shared by the commands.
const (
	exitOK      = 0
	exitFailed  = 1  // invalid input, failed operation
	exitUsage   = 64 // bad command line (sysexits' EX_USAGE): never 2, which plan means "changes"
	exitChanges = 2  // plan: there are changes
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"adopt":    {"hand existing store namespaces over to this instance", runAdopt},
	"get":      {"list the stores or syncs of a running daemon (get stores|syncs)", runGet},
	"plan":     {"print what a sync would change, with diffs", runPlan},
	"schema":   {"print the JSON Schema of stores.yaml, for editors", runSchema},
	"serve":    {"run the reconciler, status API, dashboard and webhooks", runServe},
	"sync":     {"apply one sync (--once) and wait for the stores", runSync},
	"validate": {"check a stores.yaml file and list its stores", runValidate},
	"version":  {"print the storeops version", runVersion},
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "storeops: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: storeops <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'storeops <command> -h' for the flags of a command.")
}

// parseFlags parses a command's flags, then sets those not given from
// their environment variables (see flagEnv). When ok is false the command
// ends with code: 0 after -h, exitUsage after a bad flag (already
// reported).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if capture != nil {
		capture(fs) // storeops completion reads the flags
		return exitOK, false
	}
	withExamples(fs)
	err := fs.Parse(rewriteDeprecated(fs, args, fs.Output()))
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	default:
		return exitUsage, false
	}
	if err := applyEnv(fs, deprecatedEnv(fs, lookupEnv, fs.Output())); err != nil {
		fmt.Fprintf(fs.Output(), "storeops %s: %v\n", fs.Name(), err)
		return exitUsage, false
	}
	return exitOK, true
}

// oneOf checks a flag value against its allowed values.
func oneOf(flag, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("-%s must be one of %s, not %q", flag, strings.Join(allowed, ", "), v)
}
