// Command devcluster builds, starts and stops the local Kubernetes control
// plane (see package devcluster). The make targets devcluster-bin,
// devcluster-up and devcluster-down run it from the repository root:
//
//	devcluster bin  [-cache DIR] [-real-node]          build the pinned binaries if needed
//	devcluster up   [-cache DIR] [-state DIR] [-keep] [-profile instant|realistic|bench]
//	                [-time-scale F] [-failure-percent N] [-nodes N] [-kube-api-qps N] [-real-node]
//	                                                   start in the background, write a kubeconfig
//	devcluster import [-state DIR] ARCHIVE...          import OCI image archives into the real node
//	devcluster down [-state DIR]                       stop what up started
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/storeops/storeops/internal/devcluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: devcluster bin|up|import|down [flags]")
	}
	fs := flag.NewFlagSet("devcluster "+args[0], flag.ContinueOnError)
	cache := fs.String("cache", ".cache", "build cache directory; binaries go to DIR/devcluster/<versions>/bin")
	module := fs.String("module", devcluster.ToolsModule, "the tools module that pins the versions")
	state := fs.String("state", ".run/devcluster", "state directory: etcd data, certificates, logs, kubeconfig")
	keep := fs.Bool("keep", false, "keep the state of the last run (etcd data) instead of starting empty")
	basePort := fs.Int("base-port", 26440, "first of 6 consecutive ports on 127.0.0.1; the API server gets base+3")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for readiness")
	profile := fs.String("profile", "instant", "lifecycle profile: instant, realistic or bench (see deploy/devcluster/README.md)")
	timeScale := fs.Float64("time-scale", 1, "realistic profile: multiply every delay by this (0.1 is ten times faster)")
	failures := fs.Int("failure-percent", 0, fmt.Sprintf("realistic profile: percent of pulls, starts, Ready pods and Job runs that fail (0: %d, -1: none)", devcluster.DefaultFailurePercent))
	nodes := fs.Int("nodes", 0, "number of fake nodes (0: 1, or 12 for bench)")
	qps := fs.Int("kube-api-qps", 0, "client rate limit of the controller manager and the scheduler (0: the profile's)")
	realNode := fs.Bool("real-node", false, "add a real node: kubelet, containerd, runc, kube-proxy (root; see deploy/devcluster/README.md)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	build := devcluster.BuildOptions{ModuleDir: *module, CacheDir: *cache, Go: os.Getenv("GO"), Log: os.Stderr}
	switch args[0] {
	case "bin":
		dir, err := devcluster.Build(ctx, build)
		if err != nil {
			return err
		}
		fmt.Println(dir)
		if *realNode {
			if dir, err = devcluster.BuildNode(ctx, build); err != nil {
				return err
			}
			fmt.Println(dir)
		}
		return nil
	case "up":
		p, err := devcluster.ParseProfile(*profile)
		if err != nil {
			return err
		}
		if running := devcluster.Running(*state); len(running) > 0 {
			fmt.Printf("devcluster already running from %s (%s): %v\n", *state, devcluster.ReadProfile(*state), running)
			if have := devcluster.ReadProfile(*state); !strings.HasPrefix(have, "profile "+string(p)+",") {
				fmt.Printf("It does not run profile %s: stop it first with `make devcluster-down`.\n", p)
			}
			printUsage(*state)
			return nil
		}
		binDir, err := devcluster.Build(ctx, build)
		if err != nil {
			return err
		}
		var nodeBinDir string
		if *realNode {
			if err := devcluster.CheckRealNodeHost(); err != nil {
				return err
			}
			if nodeBinDir, err = devcluster.BuildNode(ctx, build); err != nil {
				return err
			}
		}
		c, err := devcluster.Start(ctx, devcluster.Options{
			RealNode: *realNode, NodeBinDir: nodeBinDir,
			BinDir: binDir, StateDir: *state, Keep: *keep, BasePort: *basePort,
			Detach: true, Timeout: *timeout, Log: os.Stderr,
			Profile: p, TimeScale: *timeScale, FailurePercent: *failures, Nodes: *nodes, KubeAPIQPS: *qps,
		})
		if err != nil {
			return err
		}
		fmt.Printf("devcluster %s is up: %s (logs in %s).\n", c.Version(), devcluster.ReadProfile(c.StateDir()), filepath.Join(c.StateDir(), "logs"))
		printUsage(c.StateDir())
		return nil
	case "import":
		for _, archive := range fs.Args() {
			if err := devcluster.ImportImage(ctx, *state, archive); err != nil {
				return err
			}
		}
		return nil
	case "down":
		if err := devcluster.StopState(*state, 15*time.Second); err != nil {
			return err
		}
		fmt.Printf("devcluster in %s stopped\n", *state)
		return nil
	default:
		return fmt.Errorf("unknown command %q: want bin, up, import or down", args[0])
	}
}

func printUsage(stateDir string) {
	kubeconfig := filepath.Join(stateDir, "kubeconfig")
	if abs, err := filepath.Abs(kubeconfig); err == nil {
		kubeconfig = abs
	}
	fmt.Printf(`
  export KUBECONFIG=%s
  make run                  # storeops against this cluster
  kubectl get nodes         # any kubectl works, if you have one
  make devcluster-down      # stop it

No container runs on the kwok nodes: kwok plays the kubelet and moves pods
through their lives as the profile says (instant: Ready at once; realistic:
delays and failures).
`, kubeconfig)
	if strings.Contains(devcluster.ReadProfile(stateDir), "real node") {
		fmt.Printf(`Containers do run on the real node %s: pods that tolerate the taint
%s=true:NoSchedule and select the label %s=true.
Images: devcluster import -state %s IMAGE.oci.tar (imagePullPolicy: Never).
`, devcluster.RealNodeName, devcluster.RealNodeTaint, devcluster.RealNodeLabel, stateDir)
	}
}
