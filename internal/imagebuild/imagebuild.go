// Package imagebuild builds storeops' own container image without a
// container engine: a static storeops binary (CGO_ENABLED=0), CA
// certificates and the files of a non-root user, in one layer, written
// as an OCI image archive by devcluster.WriteOCIImage. The same sources
// give the same image: the binary is built with -trimpath and no build
// ID, every file time is the Unix epoch, the configuration has no date.
//
// The image is named as storeops' chart pulls it by default: the chart's
// image.repository, tagged with image.tag or else the chart's appVersion
// (deploy/chart/values.yaml, deploy/chart/Chart.yaml).
package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/storeops/storeops/internal/devcluster"
	"sigs.k8s.io/yaml"
)

// Paths and identity inside the image.
const (
	BinaryPath = "/usr/local/bin/storeops"
	CertsPath  = "/etc/ssl/certs/ca-certificates.crt"
	// UID and GID are those of distroless' "nonroot" user, which the
	// chart's pod security context and deploy/Dockerfile use.
	UID  = 65532
	User = "65532:65532"
	// Port is where the chart's Service sends traffic (--listen).
	Port = "8080/tcp"
)

// Source is the project the image is built from, for its labels.
const Source = "https://github.com/storeops/storeops"

// DefaultRef is the reference the chart in repoRoot pulls by default:
// image.repository, and image.tag or the chart's appVersion.
func DefaultRef(repoRoot string) (string, error) {
	var values struct {
		Image struct{ Repository, Tag string }
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := readYAML(filepath.Join(repoRoot, "deploy/chart/values.yaml"), &values); err != nil {
		return "", err
	}
	if err := readYAML(filepath.Join(repoRoot, "deploy/chart/Chart.yaml"), &chart); err != nil {
		return "", err
	}
	tag := values.Image.Tag
	if tag == "" {
		tag = chart.AppVersion
	}
	if values.Image.Repository == "" || tag == "" {
		return "", errors.New("deploy/chart: image.repository and a tag (image.tag or appVersion) are required")
	}
	return values.Image.Repository + ":" + tag, nil
}

func readYAML(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// BuildBinary builds cmd/storeops of repoRoot for linux/amd64 (the
// platform devcluster.WriteOCIImage writes) as a static, reproducible
// binary at out, reporting version.
func BuildBinary(ctx context.Context, repoRoot, version, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X github.com/storeops/storeops/internal/version.Version="+version,
		"-o", out, "./cmd/storeops")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

// Image is what goes into the image besides the binary.
type Image struct {
	Ref     string // full reference, e.g. ghcr.io/storeops/storeops:0.1.0
	Version string // what storeops version prints, for the labels
	// Certs are the PEM CA certificates storeops trusts (Git, forges);
	// nil reads the build machine's /etc/ssl/certs/ca-certificates.crt.
	Certs []byte
}

// Files are the image's files: the binary, CA certificates, and passwd
// and group entries for root and the non-root user.
func Files(binary []byte, certs []byte) []devcluster.ImageFile {
	return []devcluster.ImageFile{
		{Path: BinaryPath, Mode: 0o755, Data: binary},
		{Path: CertsPath, Mode: 0o644, Data: certs},
		{Path: "/etc/passwd", Mode: 0o644, Data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID)},
		{Path: "/etc/group", Mode: 0o644, Data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", UID)},
	}
}

// Config is the image's configuration: storeops as entrypoint, serve as
// the default command (the chart passes serve and its flags as args), the
// non-root user, the OCI labels.
func Config(version string) devcluster.ImageConfig {
	return devcluster.ImageConfig{
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve", "--listen=0.0.0.0:8080"},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CertsPath},
		User:       User,
		Labels: map[string]string{
			"org.opencontainers.image.title":       "storeops",
			"org.opencontainers.image.description": "GitOps reconciler for e-commerce stores on Kubernetes",
			"org.opencontainers.image.source":      Source,
			"org.opencontainers.image.version":     version,
		},
		ExposedPorts: []string{Port},
	}
}

// Write writes the image of binary (a linux/amd64 storeops) to dest as
// an OCI image archive.
func Write(dest string, binary []byte, img Image) error {
	certs := img.Certs
	if certs == nil {
		var err error
		if certs, err = os.ReadFile(CertsPath); err != nil {
			return fmt.Errorf("CA certificates (install Debian's ca-certificates): %w", err)
		}
	}
	if !strings.Contains(img.Ref, ":") {
		return fmt.Errorf("image reference %q has no tag", img.Ref)
	}
	return devcluster.WriteOCIArchive(dest, img.Ref, Files(binary, certs), Config(img.Version))
}
