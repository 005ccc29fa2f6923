package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/storeops/storeops/render"
)

// runSchema prints the JSON Schema of stores.yaml.
func runSchema(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops schema\n\nPrints the JSON Schema of stores.yaml, for editors (see the README, \"Editing stores.yaml\").")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "storeops schema: takes no arguments")
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(render.JSONSchema()); err != nil {
		fmt.Fprintln(stderr, "storeops schema:", err)
		return exitFailed
	}
	return exitOK
}
