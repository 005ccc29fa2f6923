package proposals

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/render"
)

// maxUser bounds the requester's name as recorded, in characters.
const maxUser = 100

// cleanUser makes the requester's name safe to put in a commit message
// and in Markdown: no control characters or backquotes, one line,
// bounded.
func cleanUser(user string) string {
	user = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '`' {
			return ' '
		}
		return r
	}, user)
	user = strings.Join(strings.Fields(user), " ")
	if r := []rune(user); len(r) > maxUser {
		user = string(r[:maxUser])
	}
	if user == "" {
		return "unknown"
	}
	return user
}

// requesterLine names the person who asked, in the body; requester
// reads it back.
const requesterLine = "Requested by `%s` on the storeops dashboard."

var requesterRe = regexp.MustCompile("(?m)^Requested by `([^`\n]+)` on the storeops dashboard\\.")

// requester returns the name in a body's requester line, or "".
func requester(body string) string {
	if m := requesterRe.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

func commitMessage(title, user string) string {
	return title + "\n\n" + fmt.Sprintf(requesterLine, user) + "\n"
}

func createBody(base string, snap gitsource.Snapshot, out []byte, st render.Store, user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Adds the store **%s** to `%s` on `%s`.\n\n", st.Name, snap.Path, base)
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Type | %s |\n", st.Type)
	fmt.Fprintf(&b, "| Plan | %s |\n", planLine(st.Plan))
	fmt.Fprintf(&b, "| Namespace | `%s` |\n", st.Namespace())
	fmt.Fprintf(&b, "| Domain | %s |\n", st.Domain)
	if st.AdminEmail != "" {
		fmt.Fprintf(&b, "| Admin email | %s |\n", st.AdminEmail)
	}
	b.WriteString("\n")
	writeDiff(&b, snap, out)
	b.WriteString("When this is merged, storeops creates the store on its next sync: the namespace with its quota, " +
		"limit range and network policy, then the Helm release.\n\n")
	fmt.Fprintf(&b, requesterLine+"\n", user)
	return b.String()
}

func deleteBody(base string, snap gitsource.Snapshot, out []byte, st render.Store, user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Removes the store **%s** from `%s` on `%s`.\n\n", st.Name, snap.Path, base)
	what := ""
	if st.Type != "" {
		what = fmt.Sprintf(" (%s, %s plan, %s)", st.Type, st.Plan, st.Domain)
	}
	fmt.Fprintf(&b, "> **Warning: merging deletes the store and all its data.** On its next sync storeops uninstalls "+
		"the store **%s**%s and deletes its namespace `%s`, with its databases, uploaded files and volumes. "+
		"The data cannot be recovered.\n\n", st.Name, what, st.Namespace())
	writeDiff(&b, snap, out)
	fmt.Fprintf(&b, requesterLine+"\n", user)
	return b.String()
}

func planLine(plan render.Plan) string {
	t, ok := render.TierOf(plan)
	if !ok {
		return string(plan)
	}
	return fmt.Sprintf("%s: up to %d pods, requests %s CPU / %s memory, limits %s CPU / %s memory, %s storage",
		plan, t.Pods, t.RequestsCPU, t.RequestsMem, t.LimitsCPU, t.LimitsMem, t.Storage)
}

// writeDiff writes the change of the file as a diff block.
func writeDiff(b *strings.Builder, snap gitsource.Snapshot, out []byte) {
	d := lineDiff(string(snap.Data), string(out), 3)
	fence := "```"
	for strings.Contains(d, fence) {
		fence += "`"
	}
	fmt.Fprintf(b, "%sdiff\n--- a/%s\n+++ b/%s\n%s%s\n\n", fence, snap.Path, snap.Path, d, fence)
}

// lineDiff is a unified diff of one hunk from old to new with context
// lines around it: enough for render's edits, which change one run of
// consecutive lines.
func lineDiff(old, new string, context int) string {
	a, b := diffLines(old), diffLines(new)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	from := max(0, pre-context)
	aTo, bTo := min(len(a), len(a)-suf+context), min(len(b), len(b)-suf+context)
	var s strings.Builder
	fmt.Fprintf(&s, "@@ -%s +%s @@\n", hunkRange(from, aTo-from), hunkRange(from, bTo-from))
	for _, l := range a[from:pre] {
		s.WriteString(" " + l + "\n")
	}
	for _, l := range a[pre : len(a)-suf] {
		s.WriteString("-" + l + "\n")
	}
	for _, l := range b[pre : len(b)-suf] {
		s.WriteString("+" + l + "\n")
	}
	for _, l := range b[len(b)-suf : bTo] {
		s.WriteString(" " + l + "\n")
	}
	return s.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func diffLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
