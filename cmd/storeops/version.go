package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/storeops/storeops/internal/version"
)

// runVersion prints the version, from -ldflags or, for `go install`
// builds, the module version and VCS commit the Go toolchain recorded.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("o", "text", "output `format`: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops version [-o text|json]\n\nPrints the version, the commit and the Go version it was built with.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := oneOf("o", *output, "text", "json"); err != nil {
		fmt.Fprintln(stderr, "storeops version:", err)
		return exitUsage
	}
	info := version.Get()
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(info)
		return exitOK
	}
	fmt.Fprintf(stdout, "storeops %s", info.Version)
	if info.Revision != "" {
		rev := info.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if info.Modified {
			rev += "-dirty"
		}
		fmt.Fprintf(stdout, " (%s)", rev)
	}
	fmt.Fprintf(stdout, " %s %s\n", info.GoVersion, info.Platform)
	return exitOK
}
