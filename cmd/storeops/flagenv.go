package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// EnvPrefix starts the environment variable of every flag: --git-url is
// $STOREOPS_GIT_URL, --max-delete-share $STOREOPS_MAX_DELETE_SHARE. A
// flag on the command line wins over its variable.
const EnvPrefix = "STOREOPS_"

// shortFlagEnv names the variables of the one-letter flags; other
// one-letter flags have none.
var shortFlagEnv = map[string]string{"f": "file", "o": "output"}

// flagEnv is the environment variable of flag name ("" for none).
func flagEnv(name string) string {
	if len(name) == 1 {
		long, ok := shortFlagEnv[name]
		if !ok {
			return ""
		}
		name = long
	}
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag of fs not given on the command line from its
// environment variable, when that is set.
func applyEnv(fs *flag.FlagSet, getenv func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if flagEnv(f.Name) == "" {
			return
		}
		v, ok := getenv(flagEnv(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("$%s: %v", flagEnv(f.Name), err))
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// examples are printed at the end of each command's -h.
var examples = map[string]string{
	"adopt": `  # Hand the store namespaces of a version without instances to this one
  storeops adopt --kubeconfig ~/.kube/config --context prod acme`,
	"confirm-move": `  # Confirm moving store acme from the local cluster to eu-west (it is deleted, with its data, from the local one)
  storeops confirm-move --leader-election-namespace storeops --from local --to eu-west acme`,
	"confirm-deletions": `  # Confirm the deletions of revision 3f2a9c1, in the cluster of kubeconfig context prod
  storeops confirm-deletions --context prod --leader-election-namespace storeops 3f2a9c1`,
	"plan": `  # What merging the config repository's main branch would do
  storeops plan --git-url https://git.example.com/ops/stores.git
  # A local file, as JSON (exit status 2: there are changes)
  storeops plan -f stores.yaml -o json
  # Only the list of changes, without the unified diff of each
  storeops plan -f stores.yaml --diff=false
  # Against the cluster of another kubeconfig context, as kubectl --context
  storeops plan --git-url https://git.example.com/ops/stores.git --context prod`,
	"sync": `  # Apply once and wait until every store is Ready
  storeops sync --once --git-url https://git.example.com/ops/stores.git
  # Apply a local file without waiting
  storeops sync --once -f stores.yaml --wait=false`,
	"serve": `  # The daemon, syncing every minute and on GitHub push webhooks
  STOREOPS_GIT_TOKEN=... storeops serve --git-url https://github.com/acme/stores.git \
    --webhook-secret-github-file /etc/storeops/webhook-secret --webhooks github
  # With commit statuses and plan previews on Gitea pull requests
  storeops serve --git-url https://gitea.example.com/ops/stores.git \
    --forge gitea --forge-url https://gitea.example.com --forge-repo ops/stores \
    --forge-token-file /etc/storeops/forge-token --dashboard-url https://storeops.example.com`,
	"validate": `  # Check a file, as CI of the config repository does
  storeops validate -f stores.yaml
  storeops validate -f stores.yaml -o json`,
	"version": `  storeops version
  storeops version -o json`,
	"get": `  # The stores of a running daemon, as a table
  storeops get stores --server https://storeops.example.com --token-file ~/.storeops-token
  # More columns; only the failed ones
  storeops get stores -o wide --phase Failed --phase Blocked
  # The last syncs, as YAML, the server from the environment
  STOREOPS_SERVER=http://127.0.0.1:8080 storeops get syncs -o yaml`,
	"schema": `  # Write the JSON Schema of stores.yaml for an editor
  storeops schema > stores.schema.json`,
}

// withExamples makes fs's usage end with the command's examples and the
// rule of the environment variables.
func withExamples(fs *flag.FlagSet) {
	usage := fs.Usage
	fs.Usage = func() {
		if usage != nil {
			usage()
		} else {
			fmt.Fprintf(fs.Output(), "Usage of storeops %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		w := fs.Output()
		if ex := examples[fs.Name()]; ex != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", ex)
		}
		fmt.Fprintf(w, "\nEvery flag can also be set with an environment variable: %s<FLAG> in capitals, '-' as '_' (e.g. --log-level is $%s, -f $%s, -o $%s); the command line wins.\n",
			EnvPrefix, flagEnv("log-level"), flagEnv("f"), flagEnv("o"))
	}
}

func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }
