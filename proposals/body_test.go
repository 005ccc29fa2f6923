package proposals

import "testing"

func TestLineDiff(t *testing.T) {
	tests := []struct{ name, old, new, want string }{
		{"insert in the middle", "a\nb\nc\nd\ne\nf\n", "a\nb\nc\nX\nd\ne\nf\n",
			"@@ -2,4 +2,5 @@\n b\n c\n+X\n d\n e\n"},
		{"remove at the end", "a\nb\nc\n", "a\n",
			"@@ -1,3 +1,1 @@\n a\n-b\n-c\n"},
		{"new file", "", "stores:\n  - name: a\n",
			"@@ -0,0 +1,2 @@\n+stores:\n+  - name: a\n"},
		{"append at the end", "a\n", "a\nb\n",
			"@@ -1,1 +1,2 @@\n a\n+b\n"},
	}
	for _, tt := range tests {
		if got := lineDiff(tt.old, tt.new, 2); got != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.name, got, tt.want)
		}
	}
}

func TestCleanUser(t *testing.T) {
	for in, want := range map[string]string{
		"alice":              "alice",
		"  bob\n`rm -rf`\t ": "bob rm -rf",
		"":                   "unknown",
		"\x00\x01":           "unknown",
	} {
		if got := cleanUser(in); got != want {
			t.Errorf("cleanUser(%q) = %q, want %q", in, got, want)
		}
	}
	body := "x\n" + commitMessage("t", cleanUser("carol c."))
	if got := requester(body); got != "carol c." {
		t.Errorf("requester = %q", got)
	}
}
