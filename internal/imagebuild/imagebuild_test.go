package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/reporoot"
)

// archive is an OCI image archive read back: its index, the one image's
// manifest and configuration, and the files of its layer.
type archive struct {
	index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
			Platform    struct{ Architecture, OS string }
		}
	}
	manifest struct {
		Config struct{ Digest string }
		Layers []struct{ MediaType, Digest string }
	}
	config struct {
		Architecture, OS, Created string
		Config                    struct {
			Entrypoint, Cmd, Env []string
			User                 string
			Labels               map[string]string
			ExposedPorts         map[string]struct{}
		}
	}
	files map[string]*tar.Header
	data  map[string][]byte
}

func readTar(t *testing.T, r io.Reader) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, b
	}
}

func readArchive(t *testing.T, path string) archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, blobs := readTar(t, f)
	blob := func(digest string) []byte {
		b, ok := blobs["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok {
			t.Fatalf("no blob %s in %s", digest, path)
		}
		return b
	}
	var a archive
	if string(blobs["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout: %q", blobs["oci-layout"])
	}
	if err := json.Unmarshal(blobs["index.json"], &a.index); err != nil || len(a.index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, blobs["index.json"])
	}
	if err := json.Unmarshal(blob(a.index.Manifests[0].Digest), &a.manifest); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(blob(a.manifest.Config.Digest), &a.config); err != nil {
		t.Fatal(err)
	}
	if len(a.manifest.Layers) != 1 {
		t.Fatalf("%d layers", len(a.manifest.Layers))
	}
	a.files, a.data = readTar(t, bytes.NewReader(blob(a.manifest.Layers[0].Digest)))
	return a
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestDefaultRefIsTheChartsImage: the image is named as the chart pulls
// it by default.
func TestDefaultRefIsTheChartsImage(t *testing.T) {
	ref, err := DefaultRef(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	values, _ := os.ReadFile(filepath.Join(repoRoot(t), "deploy/chart/values.yaml"))
	chart, _ := os.ReadFile(filepath.Join(repoRoot(t), "deploy/chart/Chart.yaml"))
	repo, tag, _ := strings.Cut(ref, ":")
	if !strings.Contains(string(values), "repository: "+repo+" ") || !strings.Contains(string(chart), `appVersion: "`+tag+`"`) {
		t.Fatalf("%s is not deploy/chart's image.repository:appVersion", ref)
	}
}

// TestImage: the configuration (entrypoint, default command, non-root
// user, labels, port) and the layer (the binary, executable; CA
// certificates; the user's passwd entry) of an image, written twice to
// the same bytes.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	binary := []byte("\x7fELF not really")
	img := Image{Ref: "ghcr.io/storeops/storeops:0.1.0", Version: "v1.2.3", Certs: []byte("-----BEGIN CERTIFICATE-----\n")}
	one, two := filepath.Join(dir, "one.tar"), filepath.Join(dir, "two.tar")
	for _, p := range []string{one, two} {
		if err := Write(p, binary, img); err != nil {
			t.Fatal(err)
		}
	}
	b1, _ := os.ReadFile(one)
	b2, _ := os.ReadFile(two)
	if !bytes.Equal(b1, b2) {
		t.Fatal("the same inputs gave two different archives")
	}
	a := readArchive(t, one)
	m := a.index.Manifests[0]
	if m.Annotations["io.containerd.image.name"] != img.Ref || m.Annotations["org.opencontainers.image.ref.name"] != "0.1.0" ||
		m.Platform.OS != "linux" || m.Platform.Architecture != "amd64" {
		t.Errorf("index: %+v", m)
	}
	c := a.config
	if c.OS != "linux" || c.Architecture != "amd64" || c.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("platform and date: %s/%s %s", c.OS, c.Architecture, c.Created)
	}
	if strings.Join(c.Config.Entrypoint, " ") != "/usr/local/bin/storeops" || strings.Join(c.Config.Cmd, " ") != "serve --listen=0.0.0.0:8080" {
		t.Errorf("entrypoint %q cmd %q", c.Config.Entrypoint, c.Config.Cmd)
	}
	if c.Config.User != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", c.Config.User)
	}
	if c.Config.Labels["org.opencontainers.image.version"] != "v1.2.3" || c.Config.Labels["org.opencontainers.image.source"] != Source ||
		c.Config.Labels["org.opencontainers.image.title"] != "storeops" {
		t.Errorf("labels %v", c.Config.Labels)
	}
	if _, ok := c.Config.ExposedPorts["8080/tcp"]; !ok || len(c.Config.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v", c.Config.ExposedPorts)
	}
	bin := a.files["usr/local/bin/storeops"]
	if bin == nil || bin.Typeflag != tar.TypeReg || bin.Mode&0o111 != 0o111 || !bytes.Equal(a.data["usr/local/bin/storeops"], binary) {
		t.Fatalf("binary in the layer: %+v", bin)
	}
	if !strings.Contains(string(a.data["etc/passwd"]), "nonroot:x:65532:65532:") || a.files["etc/ssl/certs/ca-certificates.crt"] == nil {
		t.Errorf("passwd %q, certificates %v", a.data["etc/passwd"], a.files["etc/ssl/certs/ca-certificates.crt"] != nil)
	}
	for name, h := range a.files {
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: time %v owner %d:%d", name, h.ModTime, h.Uid, h.Gid)
		}
	}
	if err := Write(filepath.Join(dir, "x.tar"), binary, Image{Ref: "storeops"}); err == nil {
		t.Error("a reference without a tag was accepted")
	}
}

// TestBuiltImageRuns builds the real image as make image does: the
// binary in its layer is static (no interpreter), executable, runs and
// reports its version; built twice, the archive is the same.
func TestBuiltImageRuns(t *testing.T) {
	if os.Getenv("STOREOPS_IMAGE_TEST") == "" {
		// Minutes on a cold build cache (every package rebuilt static and
		// -trimpath): make image runs it, make test does not.
		t.Skip("builds storeops twice; set STOREOPS_IMAGE_TEST=1 (make image does)")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	var archives [][]byte
	for i, name := range []string{"one", "two"} {
		bin := filepath.Join(dir, name)
		if err := BuildBinary(context.Background(), root, "v0.0.0-test", bin); err != nil {
			t.Fatal(err)
		}
		binary, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".tar")
		if err := Write(out, binary, Image{Ref: "ghcr.io/storeops/storeops:0.1.0", Version: "v0.0.0-test", Certs: []byte("certs\n")}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		archives = append(archives, b)
		if i > 0 {
			continue
		}
		a := readArchive(t, out)
		extracted := filepath.Join(dir, "extracted")
		if err := os.WriteFile(extracted, a.data["usr/local/bin/storeops"], os.FileMode(a.files["usr/local/bin/storeops"].Mode)); err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(extracted)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("the binary is dynamically linked (program header %v)", p.Type)
			}
		}
		f.Close()
		out2, err := exec.Command(extracted, "version", "-o", "json").Output()
		if err != nil || !strings.Contains(string(out2), `"version": "v0.0.0-test"`) {
			t.Fatalf("storeops version from the image: %v\n%s", err, out2)
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two builds of the same sources gave different images")
	}
}
