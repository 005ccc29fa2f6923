// Package manifestdiff shows what applying Kubernetes manifests would
// change, as a unified diff of their YAML: stable from run to run (keys
// sorted, objects in a fixed order, a deterministic line diff), with the
// values of Secrets masked.
package manifestdiff

import (
	"fmt"
	"strings"
)

// Context is the number of unchanged lines around each change.
const Context = 3

// edit is one line of an edit script: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	line string
}

// splitLines splits text into lines without their newlines; a final
// newline ends the last line rather than starting an empty one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// editScript is a shortest edit script from a to b (Myers' O(ND)
// algorithm). Of the shortest scripts it always picks the same one, and
// puts removals before additions.
func editScript(a, b []string) []edit {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		out := make([]edit, 0, n+m)
		for _, l := range a {
			out = append(out, edit{'-', l})
		}
		for _, l := range b {
			out = append(out, edit{'+', l})
		}
		return out
	}
	limit := n + m
	off := limit + 1
	v := make([]int, 2*limit+3)
	// trace[d] holds v[k] for k in [-d, d] as it was before step d.
	var trace [][]int
	var dEnd int
search:
	for d := 0; d <= limit; d++ {
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an addition
			} else {
				x = v[off+k-1] + 1 // right: a removal
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				dEnd = d
				break search
			}
		}
	}
	var rev []edit
	x, y := n, m
	for d := dEnd; d > 0; d-- {
		prev := func(k int) int { return trace[d][k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && prev(k-1) < prev(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := prev(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, edit{' ', a[x-1]})
			x, y = x-1, y-1
		}
		if x == px {
			rev = append(rev, edit{'+', b[y-1]})
			y--
		} else {
			rev = append(rev, edit{'-', a[x-1]})
			x--
		}
	}
	for x > 0 && y > 0 {
		rev = append(rev, edit{' ', a[x-1]})
		x, y = x-1, y-1
	}
	out := make([]edit, len(rev))
	for i := range rev {
		out[i] = rev[len(rev)-1-i]
	}
	return removalsFirst(out)
}

// removalsFirst reorders each run of changes so that its removals come
// before its additions, as diff -u prints them.
func removalsFirst(es []edit) []edit {
	for i := 0; i < len(es); {
		if es[i].op == ' ' {
			i++
			continue
		}
		j := i
		for j < len(es) && es[j].op != ' ' {
			j++
		}
		var del, add []edit
		for _, e := range es[i:j] {
			if e.op == '-' {
				del = append(del, e)
			} else {
				add = append(add, e)
			}
		}
		copy(es[i:], append(del, add...))
		i = j
	}
	return es
}

// Unified returns the unified diff (diff -u) of texts a and b, named
// fromName and toName in its header; "" when they are equal.
func Unified(fromName, toName, a, b string) string {
	if a == b {
		return ""
	}
	es := editScript(splitLines(a), splitLines(b))
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", fromName, toName)
	// Positions (0-based) in a and b of each edit.
	ai, bi := make([]int, len(es)+1), make([]int, len(es)+1)
	for i, e := range es {
		ai[i+1], bi[i+1] = ai[i], bi[i]
		if e.op != '+' {
			ai[i+1]++
		}
		if e.op != '-' {
			bi[i+1]++
		}
	}
	for i := 0; i < len(es); {
		if es[i].op == ' ' {
			i++
			continue
		}
		// A hunk: from Context lines before the change to Context lines
		// after the last change closer than 2*Context kept lines.
		start := max(0, i-Context)
		end := i
		for j := i; j < len(es); j++ {
			if es[j].op != ' ' {
				end = j + 1
			} else if j-end >= 2*Context {
				break
			}
		}
		end = min(len(es), end+Context)
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(ai[start], ai[end]-ai[start]), hunkRange(bi[start], bi[end]-bi[start]))
		for _, e := range es[start:end] {
			sb.WriteByte(e.op)
			sb.WriteString(e.line)
			sb.WriteByte('\n')
		}
		i = end
	}
	return sb.String()
}

// hunkRange is a hunk header's range of count lines from 0-based line
// first, as diff -u writes it.
func hunkRange(first, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", first)
	case 1:
		return fmt.Sprintf("%d", first+1)
	}
	return fmt.Sprintf("%d,%d", first+1, count)
}
