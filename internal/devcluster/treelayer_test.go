package devcluster

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WriteTreeLayer gives the same bytes for the same tree whatever the
// files' times and owners, in lexical order, with the owner asked for.
func TestWriteTreeLayerIsReproducible(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app")
	for name, data := range map[string]string{"b/x.js": "x", "a.txt": "a", "bin/run": "#!/bin/sh\n"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(src, "bin/run"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../b/x.js", filepath.Join(src, "bin/x")); err != nil {
		t.Fatal(err)
	}
	files := []ImageFile{{Path: "/usr/local/bin/entry", Mode: 0o755, Data: []byte("e")}}
	one := filepath.Join(dir, "one.tar")
	if err := WriteTreeLayer(one, []Tree{{Src: src, Dest: "/app", UID: 1000, GID: 1000}}, files); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "a.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.tar")
	if err := WriteTreeLayer(two, []Tree{{Src: src, Dest: "/app", UID: 1000, GID: 1000}}, files); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(one)
	b, _ := os.ReadFile(two)
	if !bytes.Equal(a, b) {
		t.Error("two layers of the same tree differ")
	}
	var got []string
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: time %s", h.Name, h.ModTime)
		}
		got = append(got, fmt.Sprintf("%s %c %s %d %o", h.Name, h.Typeflag, h.Linkname, h.Uid, h.Mode))
	}
	want := []string{
		"app/ 5  1000 755",
		"app/a.txt 0  1000 644",
		"app/b/ 5  1000 755",
		"app/b/x.js 0  1000 644",
		"app/bin/ 5  1000 755",
		"app/bin/run 0  1000 755",
		"app/bin/x 2 ../b/x.js 1000 777",
		"usr/ 5  0 755",
		"usr/local/ 5  0 755",
		"usr/local/bin/ 5  0 755",
		"usr/local/bin/entry 0  0 755",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
