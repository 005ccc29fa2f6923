package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/storeops/storeops/reconcile"
)

func runAdopt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("adopt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f engineFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: storeops adopt [--instance NAME] STORE...

Hands the namespaces of existing stores over to this instance: for stores
made by a storeops without instances, or moved from another instance. It
labels the namespace and what storeops made in it with the instance and
seals the namespace with the instance's proof of creation. Only namespaces
labelled app.kubernetes.io/managed-by=storeops are accepted.

Example:
  storeops adopt --instance storeops acme corner-shop`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	if err := reconcile.CheckInstanceName(f.instance); err != nil {
		fmt.Fprintln(stderr, "storeops adopt: -instance:", err)
		return exitUsage
	}
	_, client, err := kubeConfig(f.kube)
	if err != nil {
		fmt.Fprintln(stderr, "storeops adopt:", err)
		return exitFailed
	}
	inst, err := reconcile.LoadInstanceKey(ctx, client, f.lease.namespace, f.instance)
	if err != nil {
		fmt.Fprintln(stderr, "storeops adopt:", err)
		return exitFailed
	}
	code := exitOK
	for _, store := range fs.Args() {
		if err := reconcile.Adopt(ctx, client, inst, store); err != nil {
			fmt.Fprintln(stderr, "storeops adopt:", err)
			code = exitFailed
			continue
		}
		fmt.Fprintf(stdout, "%s: adopted by instance %s\n", store, inst.Name)
	}
	return code
}
