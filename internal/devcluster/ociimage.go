package devcluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ImageFile is one file of an image built by WriteOCIArchive.
type ImageFile struct {
	Path string // absolute path in the image, e.g. /server
	Mode int64  // permission bits, e.g. 0o755
	Data []byte
}

// ImageConfig is the part of an OCI image configuration WriteOCIArchive
// writes.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	// Labels are the image's labels (org.opencontainers.image.*).
	Labels map[string]string
	// ExposedPorts are the ports the image serves on, e.g. 8080/tcp.
	ExposedPorts []string
}

// WriteOCIArchive writes an OCI image archive (oci-layout, index.json,
// blobs) of a single uncompressed layer with files to path, named ref (a
// full reference such as storeops.local/pause:1), for linux/amd64. It is
// what `ctr images import` takes. No container engine is involved, and the
// same inputs give the same bytes.
func WriteOCIArchive(dest, ref string, files []ImageFile, cfg ImageConfig) error {
	return WriteOCIImage(dest, ref, []Layer{{Files: files}}, cfg)
}

// Layer is one layer of an image: an existing (uncompressed) tar file, e.g.
// a root filesystem made by mmdebstrap, or files.
type Layer struct {
	TarPath string
	Files   []ImageFile
}

// blob is content of the archive: in memory, or a file streamed from disk.
type blob struct {
	digest string
	size   int64
	data   []byte
	path   string
}

func memBlob(b []byte) blob { return blob{digest: digest(b), size: int64(len(b)), data: b} }

func fileBlob(path string) (blob, error) {
	f, err := os.Open(path)
	if err != nil {
		return blob{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return blob{}, err
	}
	return blob{digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), size: n, path: path}, nil
}

// WriteOCIImage writes an OCI image archive of layers (bottom first) to
// dest, named ref, for linux/amd64 (see WriteOCIArchive).
func WriteOCIImage(dest, ref string, layers []Layer, cfg ImageConfig) error {
	var blobs []blob
	var diffIDs []string
	var layerDescs []any
	for _, l := range layers {
		var b blob
		var err error
		if l.TarPath != "" {
			b, err = fileBlob(l.TarPath)
		} else {
			var data []byte
			if data, err = layerTar(l.Files); err == nil {
				b = memBlob(data)
			}
		}
		if err != nil {
			return err
		}
		blobs = append(blobs, b)
		diffIDs = append(diffIDs, b.digest)
		layerDescs = append(layerDescs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": b.digest, "size": b.size})
	}
	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config":       runConfig(cfg),
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", configJSON),
		"layers":        layerDescs,
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	md := descriptor("application/vnd.oci.image.manifest.v1+json", manifestJSON)
	tag := ref[strings.LastIndex(ref, ":")+1:]
	md["annotations"] = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": tag,
	}
	md["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{md},
	})
	if err != nil {
		return err
	}
	tmp := dest + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer out.Close()
	tw := tar.NewWriter(out)
	add := func(name string, b blob) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: b.size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if b.path == "" {
			_, err := tw.Write(b.data)
			return err
		}
		f, err := os.Open(b.path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	}
	entries := []struct {
		name string
		b    blob
	}{
		{"oci-layout", memBlob([]byte(`{"imageLayoutVersion":"1.0.0"}`))},
		{"index.json", memBlob(index)},
		{blobPath(configJSON), memBlob(configJSON)},
		{blobPath(manifestJSON), memBlob(manifestJSON)},
	}
	seen := map[string]bool{}
	for _, b := range blobs {
		if !seen[b.digest] {
			seen[b.digest] = true
			entries = append(entries, struct {
				name string
				b    blob
			}{"blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:"), b})
		}
	}
	for _, e := range entries {
		if err := add(e.name, e.b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// runConfig is the "config" of an image configuration. Labels and
// ExposedPorts appear only when set, so images without them keep their
// digests.
func runConfig(cfg ImageConfig) map[string]any {
	c := map[string]any{
		"Entrypoint": cfg.Entrypoint,
		"Cmd":        cfg.Cmd,
		"Env":        cfg.Env,
		"User":       cfg.User,
		"WorkingDir": cfg.WorkingDir,
	}
	if len(cfg.Labels) > 0 {
		c["Labels"] = cfg.Labels
	}
	if len(cfg.ExposedPorts) > 0 {
		ports := map[string]any{}
		for _, p := range cfg.ExposedPorts {
			ports[p] = map[string]any{}
		}
		c["ExposedPorts"] = ports
	}
	return c
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:")
}

func descriptor(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
}

// layerTar is a tar of files with their parent directories.
func layerTar(files []ImageFile) ([]byte, error) {
	dirs := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("image file %q: path must be absolute", f.Path)
		}
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			dirs[strings.TrimPrefix(d, "/")+"/"] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	sorted := append([]ImageFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range sorted {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: mode, Size: int64(len(f.Data)), Typeflag: tar.TypeReg, ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Tree is a directory of the host copied into a layer by WriteTreeLayer:
// Src's contents become Dest (an absolute path in the image), owned by
// UID:GID.
type Tree struct {
	Src      string
	Dest     string
	UID, GID int
}

// WriteTreeLayer writes to dest an uncompressed tar layer of trees (and
// files, owned by root), reproducibly: entries in lexical order, every
// time the Unix epoch, no user or group names, permissions 0755 for
// directories and executables and 0644 for other files, symbolic links
// kept as links, hard links stored as files. The parents of every Dest
// are root's directories. Other file types (sockets, devices) are
// refused.
func WriteTreeLayer(dest string, trees []Tree, files []ImageFile) error {
	tmp := dest + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer out.Close()
	tw := tar.NewWriter(out)
	epoch := time.Unix(0, 0)
	written := map[string]bool{}
	dir := func(name string, uid, gid int) error {
		if written[name] {
			return nil
		}
		written[name] = true
		return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: epoch, Uid: uid, Gid: gid, Format: tar.FormatPAX})
	}
	parents := func(p string) error {
		var ds []string
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			ds = append(ds, strings.TrimPrefix(d, "/"))
		}
		for i := len(ds) - 1; i >= 0; i-- {
			if err := dir(ds[i], 0, 0); err != nil {
				return err
			}
		}
		return nil
	}
	sortedTrees := append([]Tree(nil), trees...)
	sort.Slice(sortedTrees, func(i, j int) bool { return sortedTrees[i].Dest < sortedTrees[j].Dest })
	for _, tr := range sortedTrees {
		if !path.IsAbs(tr.Dest) || path.Clean(tr.Dest) == "/" {
			return fmt.Errorf("tree %s: destination %q must be an absolute path below /", tr.Src, tr.Dest)
		}
		if err := parents(tr.Dest); err != nil {
			return err
		}
		// filepath.WalkDir visits in lexical order.
		err := filepath.WalkDir(tr.Src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(tr.Src, p)
			if err != nil {
				return err
			}
			name := strings.TrimPrefix(path.Join(tr.Dest, filepath.ToSlash(rel)), "/")
			info, err := d.Info()
			if err != nil {
				return err
			}
			h := &tar.Header{Name: name, ModTime: epoch, Uid: tr.UID, Gid: tr.GID, Format: tar.FormatPAX}
			switch {
			case d.IsDir():
				return dir(name, tr.UID, tr.GID)
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, target, 0o777
				return tw.WriteHeader(h)
			case info.Mode().IsRegular():
				h.Typeflag, h.Size, h.Mode = tar.TypeReg, info.Size(), 0o644
				if info.Mode()&0o111 != 0 {
					h.Mode = 0o755
				}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = io.Copy(tw, f)
				return err
			default:
				return fmt.Errorf("%s: cannot put a %s into a layer", p, info.Mode().Type())
			}
		})
		if err != nil {
			return err
		}
	}
	sortedFiles := append([]ImageFile(nil), files...)
	sort.Slice(sortedFiles, func(i, j int) bool { return sortedFiles[i].Path < sortedFiles[j].Path })
	for _, f := range sortedFiles {
		if !path.IsAbs(f.Path) {
			return fmt.Errorf("image file %q: path must be absolute", f.Path)
		}
		if err := parents(f.Path); err != nil {
			return err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: mode, Size: int64(len(f.Data)), Typeflag: tar.TypeReg, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}
