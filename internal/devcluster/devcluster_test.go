package devcluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
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
	// Take a port whose five neighbours are free (other programs on this
	// machine take ports too), and ask for it as the API server's.
	var port int
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port = l.Addr().(*net.TCPAddr).Port
		free := true
		for _, p := range []int{port - 3, port - 2, port - 1, port + 1, port + 2} {
			free = free && checkPortFree("neighbour", p) == nil
		}
		if free {
			break
		}
		if attempt == 50 {
			t.Skip("found no free run of 6 ports")
		}
	}
	_, err := choosePorts(port - 3) // the API server's port
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

func TestKwokConfigOfEveryProfile(t *testing.T) {
	for _, o := range []Options{
		{Profile: Instant}, {Profile: Bench}, {Profile: Realistic},
		{Profile: Realistic, TimeScale: 0.1, NoFailures: true}, {Profile: Realistic, FailurePercent: 100},
	} {
		o, err := o.WithDefaults()
		if err != nil {
			t.Fatal(err)
		}
		data, err := kwokConfig(o)
		if err != nil {
			t.Fatalf("%s: %v", describe(o), err)
		}
		names := map[string]bool{}
		for _, doc := range splitYAML(data) {
			var stage struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					Selector map[string]any `json:"selector"`
					Delay    *struct {
						Min *int64 `json:"durationMilliseconds"`
						Max *int64 `json:"jitterDurationMilliseconds"`
					} `json:"delay"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(doc, &stage); err != nil {
				t.Fatalf("%s: %v\n%s", describe(o), err, doc)
			}
			name := stage.Metadata.Name
			if stage.Kind != "Stage" || name == "" || stage.Spec.Selector == nil {
				t.Errorf("%s: document %q is not a Stage with a selector", describe(o), name)
			}
			if names[name] {
				t.Errorf("%s: stage %s twice", describe(o), name)
			}
			names[name] = true
		}
		for _, want := range []string{"pod-delete", "pvc-provision", "fault-unready", "fault-unready-recover", "fault-job-fail"} {
			if !names[want] {
				t.Errorf("%s: no stage %s", describe(o), want)
			}
		}
		realistic := o.Profile == Realistic
		if names["pod-ready"] == realistic || names["pod-complete"] == realistic {
			t.Errorf("%s: pod-ready %t, pod-complete %t", describe(o), names["pod-ready"], names["pod-complete"])
		}
		for _, tm := range append(append([]Timing{}, RoleTimings...), JobTimings...) {
			prefix := "pod-start-"
			if strings.Contains(string(data), "job-complete-"+tm.Name) {
				prefix = "job-complete-"
			}
			if names[prefix+tm.Name] != realistic {
				t.Errorf("%s: stage %s%s present: %t", describe(o), prefix, tm.Name, names[prefix+tm.Name])
			}
		}
		failures := realistic && !o.NoFailures
		for _, s := range []string{"pod-pull-error", "pod-crash", "pod-restart-spell", "job-fail"} {
			if names[s] != failures {
				t.Errorf("%s: stage %s present: %t", describe(o), s, names[s])
			}
		}
	}
}

func TestRealisticDelaysAreScaled(t *testing.T) {
	o, err := Options{Profile: Realistic, TimeScale: 0.1}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	data, err := kwokConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range splitYAML(data) {
		if stageName(doc) != "pod-start-database" {
			continue
		}
		// database: 20-60 s at scale 1.
		if !strings.Contains(string(doc), "durationMilliseconds: 2000\n") || !strings.Contains(string(doc), "jitterDurationMilliseconds: 6000\n") {
			t.Errorf("pod-start-database at scale 0.1:\n%s", doc)
		}
		return
	}
	t.Error("no stage pod-start-database")
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.WithDefaults()
	if err != nil || o.Profile != Instant || o.Nodes != 1 || o.TimeScale != 1 || o.KubeAPIQPS != 0 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	b, err := Options{Profile: Bench}.WithDefaults()
	if err != nil || b.Nodes != 12 || b.KubeAPIQPS != 1000 {
		t.Errorf("bench defaults: %+v, %v", b, err)
	}
	if _, err := (Options{Profile: "slow"}).WithDefaults(); err == nil {
		t.Error("unknown profile accepted")
	}
	instant := strings.Join(controllerManagerArgs("/s", ports{}, o), " ")
	if !strings.Contains(instant, "--kube-api-qps=200 ") || strings.Contains(instant, "--concurrent-") {
		t.Errorf("instant controller manager: %s", instant)
	}
	if s := strings.Join(schedulerArgs("/s", ports{}, o), " "); strings.Contains(s, "--kube-api-qps") {
		t.Errorf("instant scheduler: %s", s)
	}
	bench := strings.Join(controllerManagerArgs("/s", ports{}, b), " ")
	if !strings.Contains(bench, "--kube-api-qps=1000 ") || !strings.Contains(bench, "--concurrent-deployment-syncs=25") {
		t.Errorf("bench controller manager: %s", bench)
	}
	if names := NodeNames(3); len(names) != 3 || names[0] != NodeName || names[2] != "kwok-node-2" {
		t.Errorf("NodeNames(3) = %v", names)
	}
}

// TestREADMEHasTheTimings keeps the tables of deploy/devcluster/README.md
// in step with RoleTimings and JobTimings.
func TestREADMEHasTheTimings(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", ToolsModule, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, "|"); len(f) > 3 {
			rows[strings.Trim(strings.TrimSpace(f[1]), "`")] += line
		}
	}
	for _, tm := range append(append([]Timing{}, RoleTimings...), JobTimings...) {
		row := rows[tm.Name]
		want := fmt.Sprintf("%g-%g s", tm.Min.Seconds(), tm.Max.Seconds())
		if !strings.Contains(row, want) {
			t.Errorf("README: no row for %s with %s (found %q)", tm.Name, want, row)
		}
		for _, k := range tm.Keys {
			if !strings.Contains(row, "`"+k+"`") {
				t.Errorf("README: row of %s does not name %s", tm.Name, k)
			}
		}
	}
}
