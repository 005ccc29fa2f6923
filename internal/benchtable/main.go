// Command benchtable reads `go test -bench` output on stdin and prints it as
// tables, one per package, headed by the conditions of the run (machine,
// cores, Go version, load), so that figures are never read without them.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

type row struct {
	name    string
	n       string
	metrics []string // "value unit" pairs, in order
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var (
		cpu, pkg string
		order    []string
		rows     = map[string][]row{}
		failed   []string
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cpu: "):
			cpu = strings.TrimPrefix(line, "cpu: ")
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			if _, ok := rows[pkg]; !ok {
				order = append(order, pkg)
				rows[pkg] = nil
			}
		case strings.HasPrefix(line, "Benchmark"):
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			r := row{name: f[0], n: f[1]}
			for i := 2; i+1 < len(f); i += 2 {
				r.metrics = append(r.metrics, f[i]+" "+f[i+1])
			}
			rows[pkg] = append(rows[pkg], r)
		case strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL"):
			failed = append(failed, line)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "Conditions: %s, %d cores visible, %s %s/%s, load average %s, %s\n\n",
		orUnknown(cpu), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		orUnknown(strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " ")),
		time.Now().UTC().Format(time.RFC3339))
	for _, p := range order {
		if len(rows[p]) == 0 {
			continue
		}
		fmt.Fprintf(out, "%s\n", p)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  benchmark\truns\ttime/op\tbytes/op\tallocs/op\tother")
		for _, r := range rows[p] {
			cols := map[string]string{}
			var other []string
			for _, m := range r.metrics {
				v, unit, _ := strings.Cut(m, " ")
				switch unit {
				case "ns/op":
					cols[unit] = duration(v)
				case "B/op", "allocs/op":
					cols[unit] = v
				default:
					other = append(other, m)
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", strings.TrimPrefix(r.name, "Benchmark"), r.n,
				cols["ns/op"], cols["B/op"], cols["allocs/op"], strings.Join(other, ", "))
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
	for _, f := range failed {
		fmt.Fprintln(out, f)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d benchmark failures", len(failed))
	}
	return nil
}

// duration turns nanoseconds into a readable figure.
func duration(ns string) string {
	var f float64
	if _, err := fmt.Sscan(ns, &f); err != nil {
		return ns + " ns"
	}
	return time.Duration(f).Round(time.Duration(max(1, f/1000))).String()
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unknown"
	}
	return s
}
