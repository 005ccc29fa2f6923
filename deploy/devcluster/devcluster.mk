# Local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) built from the versions pinned in deploy/devcluster/go.mod.
# Included by the top-level Makefile, which defines GO and CACHE_DIR.
#
#   make devcluster-bin    build the binaries into $(CACHE_DIR)/devcluster/<versions>/bin (once)
#   make devcluster-up     start it in the background; kubeconfig at .run/devcluster/kubeconfig
#   make devcluster-down   stop the processes devcluster-up started
#
# DEVCLUSTER_KEEP=1 keeps the etcd data of the last run on devcluster-up.
# PROFILE=instant|realistic|bench chooses how pods and Jobs behave (see
# deploy/devcluster/README.md); with realistic, TIME_SCALE=0.1 runs it ten
# times faster and FAILURE_PERCENT=N (-1: none) sets its share of failures.
# NODES=N sets the number of fake nodes (default 1, 12 for bench);
# KUBE_API_QPS=N the controller manager's and scheduler's client rate limit.
# NODE=real adds a real node (kubelet, containerd, runc, kube-proxy; root) beside
# the fake ones, installing Debian's containerd, runc, CNI plugins and iptables
# with apt-get when missing; `make devcluster-down` stops it and cleans the host.

DEVCLUSTER_STATE ?= $(CURDIR)/.run/devcluster
DEVCLUSTER_KUBECONFIG := $(DEVCLUSTER_STATE)/kubeconfig
DEVCLUSTER_BASE_PORT ?= 26440
DEVCLUSTER_KEEP ?=
PROFILE ?= instant
TIME_SCALE ?= 1
FAILURE_PERCENT ?= 0
NODES ?= 0
KUBE_API_QPS ?= 0
NODE ?=
DEVCLUSTER := GO=$(GO) $(GO) run ./internal/devcluster/cmd/devcluster

.PHONY: devcluster-bin devcluster-up devcluster-down devcluster-node-deps

devcluster-bin:
	@$(DEVCLUSTER) bin -cache $(CACHE_DIR) >/dev/null

devcluster-up: $(if $(filter real,$(NODE)),devcluster-node-deps)
	@$(DEVCLUSTER) up $(if $(filter real,$(NODE)),-real-node) -cache $(CACHE_DIR) -state $(DEVCLUSTER_STATE) -base-port $(DEVCLUSTER_BASE_PORT) $(if $(DEVCLUSTER_KEEP),-keep) \
		-profile $(PROFILE) -time-scale $(TIME_SCALE) -failure-percent $(FAILURE_PERCENT) -nodes $(NODES) -kube-api-qps $(KUBE_API_QPS)

# devcluster-node-deps installs what a real node runs besides the kubelet
# (Debian's packages; root or sudo), as `make test` installs Chromium.
devcluster-node-deps:
	@if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || ! command -v iptables >/dev/null \
		|| [ ! -x /usr/lib/cni/bridge ]; then \
		echo "installing containerd, runc, CNI plugins and iptables for the real node"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq containerd runc containernetworking-plugins iptables >/dev/null; \
	fi

devcluster-down:
	@$(DEVCLUSTER) down -state $(DEVCLUSTER_STATE)

# For `make run`: use the caller's KUBECONFIG if set, else start the local
# control plane (devcluster-up does nothing when it already runs) and use it.
#   run: build $(DEVCLUSTER_RUN_DEPS)
#   	KUBECONFIG=$(DEVCLUSTER_RUN_KUBECONFIG) $(BIN_DIR)/storeops serve ...
DEVCLUSTER_RUN_DEPS := $(if $(KUBECONFIG),,devcluster-up)
DEVCLUSTER_RUN_KUBECONFIG := $(or $(KUBECONFIG),$(DEVCLUSTER_KUBECONFIG))
