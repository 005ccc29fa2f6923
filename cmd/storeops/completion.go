package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
)

func init() {
	commands["completion"] = command{"print a shell completion script (completion bash|zsh|fish)", runCompletion}
	examples["completion"] = `  # bash, in this shell, then in every new one
  source <(storeops completion bash)
  storeops completion bash > ~/.local/share/bash-completion/completions/storeops
  # zsh (a directory of $fpath; compinit loads it)
  storeops completion zsh > "${fpath[1]}/_storeops"
  # fish
  storeops completion fish > ~/.config/fish/completions/storeops.fish`
}

// The completion scripts are generated from the commands' own flag sets:
// each command is run with its flags captured by parseFlags instead of
// parsed, so a new flag is completed without being listed here.

var (
	captureMu sync.Mutex
	// capture, when set, receives the flag set parseFlags was given,
	// which then returns without parsing.
	capture func(*flag.FlagSet)
)

// capturedFlags returns the flag set of each command that parses one.
func capturedFlags() map[string]*flag.FlagSet {
	captureMu.Lock()
	defer captureMu.Unlock()
	out := map[string]*flag.FlagSet{}
	for name, cmd := range commands {
		if name == "completion" {
			continue
		}
		capture = func(fs *flag.FlagSet) { out[name] = fs }
		cmd.run(context.Background(), nil, io.Discard, io.Discard)
	}
	capture = nil
	return out
}

// completionFlag is one flag as a completion script offers it.
type completionFlag struct {
	name   string // with its dashes: -f, --git-url
	usage  string // first sentence of its usage
	bool   bool   // takes no value
	file   bool   // its value is a file or directory
	values []string
}

// completionCommand is one command as a completion script offers it.
type completionCommand struct {
	name, summary string
	flags         []completionFlag
	args          []string // words it takes as arguments (get: stores, syncs)
}

// enumUsage finds the values listed in a usage: "...: text or json",
// "debug, info, warn or error".
var enumUsage = regexp.MustCompile(`(?:^|: )([a-z]+(?:, [a-z]+)* or [a-z]+)(?: \(|$)`)

func completionModel() []completionCommand {
	sets := capturedFlags()
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []completionCommand
	for _, n := range names {
		c := completionCommand{name: n, summary: commands[n].summary}
		switch n {
		case "get":
			c.args = []string{"stores", "syncs"}
		case "completion":
			c.args = []string{"bash", "zsh", "fish"}
		}
		if fs := sets[n]; fs != nil {
			fs.VisitAll(func(f *flag.Flag) {
				cf := completionFlag{name: "--" + f.Name}
				if len(f.Name) == 1 {
					cf.name = "-" + f.Name
				}
				_, usage := flag.UnquoteUsage(f)
				cf.usage, _, _ = strings.Cut(usage, "; ")
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					cf.bool = true
				}
				cf.file = f.Name == "f" || f.Name == "kubeconfig" || strings.HasSuffix(f.Name, "-file") || strings.HasSuffix(f.Name, "-dir")
				if m := enumUsage.FindStringSubmatch(usage); m != nil && !cf.bool {
					cf.values = strings.FieldsFunc(strings.ReplaceAll(m[1], " or ", ", "), func(r rune) bool { return r == ',' || r == ' ' })
				}
				c.flags = append(c.flags, cf)
			})
		}
		out = append(out, c)
	}
	return out
}

func runCompletion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops completion bash|zsh|fish\n\nPrints a script that completes storeops' commands, their flags and the values\nof flags that take a file, a kubeconfig context or one of a few words.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	model := completionModel()
	switch fs.Arg(0) {
	case "bash":
		writeBash(stdout, model)
	case "zsh":
		fmt.Fprint(stdout, "#compdef storeops\n\n# zsh completion of storeops: the bash completion, through bashcompinit.\nautoload -U +X bashcompinit && bashcompinit\n\n")
		writeBash(stdout, model)
	case "fish":
		writeFish(stdout, model)
	default:
		fmt.Fprintf(stderr, "storeops completion: unknown shell %q: bash, zsh or fish\n", fs.Arg(0))
		return exitUsage
	}
	return exitOK
}

// kubeContexts lists the kubeconfig's contexts, for --context.
const kubeContexts = "kubectl config get-contexts -o name 2>/dev/null"

func writeBash(w io.Writer, model []completionCommand) {
	var names []string
	for _, c := range model {
		names = append(names, c.name)
	}
	fmt.Fprintf(w, `# bash completion of storeops (storeops completion bash).
_storeops() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W %q -- "$cur"))
        return 0
    fi
    cmd="${COMP_WORDS[1]}"
    local flags="" valued="" files="" args=""
    case "$cmd" in
`, strings.Join(names, " "))
	for _, c := range model {
		var flags, valued, files []string
		for _, f := range c.flags {
			flags = append(flags, f.name)
			if !f.bool {
				valued = append(valued, f.name)
			}
			if f.file {
				files = append(files, f.name)
			}
		}
		fmt.Fprintf(w, "        %s)\n            flags=%q\n            valued=%q\n            files=%q\n            args=%q\n            ;;\n",
			c.name, strings.Join(flags, " "), strings.Join(valued, " "), strings.Join(files, " "), strings.Join(c.args, " "))
	}
	fmt.Fprint(w, `        *)
            return 0
            ;;
    esac
    # The value of the flag before the cursor.
    if [[ " $valued " == *" $prev "* ]]; then
        if [[ " $files " == *" $prev "* ]]; then
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
        fi
        case "$cmd $prev" in
`)
	for _, c := range model {
		for _, f := range c.flags {
			switch {
			case len(f.values) > 0:
				fmt.Fprintf(w, "            %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.name+" "+f.name, strings.Join(f.values, " "))
			case f.name == "--context":
				fmt.Fprintf(w, "            %q) COMPREPLY=($(compgen -W \"$(%s)\" -- \"$cur\")) ;;\n", c.name+" "+f.name, kubeContexts)
			}
		}
	}
	fmt.Fprint(w, `        esac
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return 0
    fi
    # The command's first argument.
    for ((i = 2; i < COMP_CWORD; i++)); do
        if [[ "${COMP_WORDS[i]}" != -* && " $valued " != *" ${COMP_WORDS[i-1]} "* ]]; then
            return 0
        fi
    done
    COMPREPLY=($(compgen -W "$args" -- "$cur"))
    return 0
}
complete -F _storeops storeops
`)
}

func writeFish(w io.Writer, model []completionCommand) {
	var names []string
	for _, c := range model {
		names = append(names, c.name)
	}
	fmt.Fprintln(w, "# fish completion of storeops (storeops completion fish).")
	fmt.Fprintln(w, "complete -c storeops -f")
	for _, c := range model {
		fmt.Fprintf(w, "complete -c storeops -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range model {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range c.flags {
			line := "complete -c storeops -n " + cond
			if strings.HasPrefix(f.name, "--") {
				line += " -l " + strings.TrimPrefix(f.name, "--")
			} else {
				line += " -s " + strings.TrimPrefix(f.name, "-")
			}
			switch {
			case f.bool:
			case f.file:
				line += " -r -F"
			case len(f.values) > 0:
				line += " -x -a " + fishQuote(strings.Join(f.values, " "))
			case f.name == "--context":
				line += " -x -a " + fishQuote("("+kubeContexts+")")
			default:
				line += " -x"
			}
			fmt.Fprintf(w, "%s -d %s\n", line, fishQuote(f.usage))
		}
		if len(c.args) > 0 {
			fmt.Fprintf(w, "complete -c storeops -n %s -a %s\n", cond, fishQuote(strings.Join(c.args, " ")))
		}
	}
	_ = names
}

// fishQuote quotes s for fish, in single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
