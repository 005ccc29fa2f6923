package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/storeops/storeops/render"
)

// validateResult is the JSON output of `storeops validate -o json`.
type validateResult struct {
	File   string           `json:"file"`
	Valid  bool             `json:"valid"`
	Errors render.ErrorList `json:"errors"`
	Stores []render.Store   `json:"stores"`
}

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "stores.yaml", "the stores.yaml `file` to check")
	output := fs.String("o", "text", "output `format`: text or json")
	var limits render.Limits
	fs.IntVar(&limits.MaxStores, "max-stores", render.DefaultMaxStores, "most stores a file may declare")
	fs.IntVar(&limits.MaxBytes, "max-bytes", render.DefaultMaxBytes, "largest file accepted, in bytes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops validate [-f stores.yaml] [-o text|json]\n\nExit status: 0 valid, 1 invalid.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := oneOf("o", *output, "text", "json"); err != nil {
		fmt.Fprintln(stderr, "storeops validate:", err)
		return exitUsage
	}

	res := validateResult{File: *file, Errors: render.ErrorList{}, Stores: []render.Store{}}
	cfg, err := readConfig(*file, limits)
	if err != nil {
		res.Errors = render.Errors(err)
		if res.Errors == nil {
			res.Errors = render.ErrorList{{File: *file, Line: 1, Column: 1, Msg: err.Error()}}
		}
	} else {
		res.Valid = true
		res.Stores = cfg.Stores()
	}

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else if res.Valid {
		fmt.Fprintf(stdout, "%s: valid, %d stores\n", *file, len(res.Stores))
		printStores(stdout, res.Stores)
	} else {
		for _, e := range res.Errors {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", *file, len(res.Errors))
	}
	if !res.Valid {
		return exitFailed
	}
	return exitOK
}

// readConfig reads and parses a stores.yaml file from disk, refusing files
// over the size limit before reading them whole.
func readConfig(path string, limits render.Limits) (*render.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	max := limits.MaxBytes
	if max <= 0 {
		max = render.DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return render.Parse(path, data, limits)
}

func printStores(w io.Writer, stores []render.Store) {
	if len(stores) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tPLAN\tDOMAIN\tNAMESPACE\tSUSPENDED")
	for _, s := range stores {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\n", s.Name, s.Type, s.Plan, s.Domain, s.Namespace(), s.Suspend)
	}
	tw.Flush()
}
