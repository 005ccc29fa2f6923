package devcluster

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteOCIImageIsAConsistentLayout(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	f, err := os.Create(base)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	_ = tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4})
	_, _ = tw.Write([]byte("box\n"))
	_ = tw.Close()
	_ = f.Close()
	archive := filepath.Join(dir, "img.oci.tar")
	if err := WriteOCIImage(archive, "storeops.local/x:1", []Layer{{TarPath: base}, {Files: []ImageFile{{Path: "/bin/x", Mode: 0o755, Data: []byte("x")}}}},
		ImageConfig{Entrypoint: []string{"/bin/x"}}); err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	af, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	tr := tar.NewReader(af)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		blobs[h.Name] = b
	}
	for name, b := range blobs {
		if hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != hexDigest {
				t.Errorf("blob %s has digest %x", name, sum)
			}
		}
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, blobs["index.json"])
	}
	if got := index.Manifests[0].Annotations["io.containerd.image.name"]; got != "storeops.local/x:1" {
		t.Errorf("image name %q", got)
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(blobs["blobs/sha256/"+strings.TrimPrefix(index.Manifests[0].Digest, "sha256:")], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 2 {
		t.Fatalf("want 2 layers, got %d", len(manifest.Layers))
	}
	for _, d := range append([]string{manifest.Config.Digest}, manifest.Layers[0].Digest, manifest.Layers[1].Digest) {
		if _, ok := blobs["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]; !ok {
			t.Errorf("blob %s missing", d)
		}
	}
}

// The settings without which a real node does not work on these machines
// (see deploy/devcluster/README.md).
func TestRealNodeConfigs(t *testing.T) {
	p := realNodePorts{1, 2, 3, 4}
	for name, pair := range map[string][2]string{
		"containerd": {containerdConfig("/s/realnode", "/s/c.sock"), "restrict_oom_score_adj = true|sandbox_image = \"" + PauseImage + "\"|snapshotter = \"overlayfs\"|bin_dir = \"/usr/lib/cni\""},
		"kubelet":    {kubeletConfig("/s", "/s/realnode", "/s/c.sock", p), "failCgroupV1: false|cgroupDriver: cgroupfs|failSwapOn: false|enforceNodeAllocatable: []|evictionHard: {}|healthzBindAddress: 127.0.0.1|key: " + RealNodeTaint},
		"cni":        {cniConfig("/s/realnode"), `"type": "bridge"|"type": "host-local"|"` + realBridge + `"`},
		"kube-proxy": {kubeProxyConfig("/s/kubeconfig", p), "mode: iptables|masqueradeAll: true|maxPerCore: 0"},
	} {
		for _, want := range strings.Split(pair[1], "|") {
			if !strings.Contains(pair[0], want) {
				t.Errorf("%s config lacks %q:\n%s", name, want, pair[0])
			}
		}
	}
	if got := unescapeMount(`/a\040b`); got != "/a b" {
		t.Errorf("unescapeMount: %q", got)
	}
}
