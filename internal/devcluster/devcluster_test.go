package devcluster

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadVersionsOfTheToolsModule(t *testing.T) {
	v, err := ReadVersions(filepath.Join("..", "..", ToolsModule))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"kubernetes": v.Kubernetes, "etcd": v.Etcd, "kwok": v.Kwok} {
		if !strings.HasPrefix(got, "v") {
			t.Errorf("%s version %q", name, got)
		}
	}
}

func TestBinDirChangesWithThePins(t *testing.T) {
	dir := t.TempDir()
	gomod := "module x\n\nrequire (\n\tk8s.io/kubernetes v1.36.3 // indirect\n\tgo.etcd.io/etcd/server/v3 v3.6.8\n\tsigs.k8s.io/kwok v0.8.0\n)\n"
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", gomod)
	write("go.sum", "")
	o := BuildOptions{ModuleDir: dir, CacheDir: "/cache"}
	a, err := BinDir(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "/cache/devcluster/k8s-v1.36.3_etcd-v3.6.8_kwok-v0.8.0_") || filepath.Base(a) != "bin" {
		t.Errorf("BinDir = %s", a)
	}
	if b, _ := BinDir(o); b != a {
		t.Errorf("BinDir not stable: %s, then %s", a, b)
	}
	write("go.mod", strings.Replace(gomod, "v0.8.0", "v0.8.1", 1))
	if c, _ := BinDir(o); c == a {
		t.Errorf("BinDir did not change with the kwok version: %s", c)
	}
}

func TestLdflagsSetTheVersion(t *testing.T) {
	got := ldflags("v1.36.3")
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.36.3",
		"k8s.io/component-base/version.gitMinor=36",
		"k8s.io/client-go/pkg/version.gitMajor=1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ldflags lack %s: %s", want, got)
		}
	}
}

func TestTakenPortIsReported(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = choosePorts(port - 3) // the API server's port
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver") || !strings.Contains(err.Error(), "taken") {
		t.Errorf("choosePorts with a taken port: %v", err)
	}
}

func TestStopStateWithoutPIDsIsANoOp(t *testing.T) {
	if err := StopState(t.TempDir(), 0); err != nil {
		t.Fatal(err)
	}
}

func TestStagesCoverEveryKind(t *testing.T) {
	for _, stage := range []string{
		"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete",
		"pv-bind", "pv-delete", "pvc-provision", "pvc-delete", "service-load-balancer",
	} {
		if !strings.Contains(string(kwokStages), "\n  name: "+stage+"\n") {
			t.Errorf("kwok-stages.yaml has no stage %s", stage)
		}
	}
}
