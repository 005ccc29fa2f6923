# Local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) built from the versions pinned in deploy/devcluster/go.mod.
# Included by the top-level Makefile, which defines GO and CACHE_DIR.
#
#   make devcluster-bin    build the binaries into $(CACHE_DIR)/devcluster/<versions>/bin (once)
#   make devcluster-up     start it in the background; kubeconfig at .run/devcluster/kubeconfig
#   make devcluster-down   stop the processes devcluster-up started
#
# DEVCLUSTER_KEEP=1 keeps the etcd data of the last run on devcluster-up.

DEVCLUSTER_STATE ?= $(CURDIR)/.run/devcluster
DEVCLUSTER_KUBECONFIG := $(DEVCLUSTER_STATE)/kubeconfig
DEVCLUSTER_BASE_PORT ?= 26440
DEVCLUSTER_KEEP ?=
DEVCLUSTER := GO=$(GO) $(GO) run ./internal/devcluster/cmd/devcluster

.PHONY: devcluster-bin devcluster-up devcluster-down

devcluster-bin:
	@$(DEVCLUSTER) bin -cache $(CACHE_DIR) >/dev/null

devcluster-up:
	@$(DEVCLUSTER) up -cache $(CACHE_DIR) -state $(DEVCLUSTER_STATE) -base-port $(DEVCLUSTER_BASE_PORT) $(if $(DEVCLUSTER_KEEP),-keep)

devcluster-down:
	@$(DEVCLUSTER) down -state $(DEVCLUSTER_STATE)

# For `make run`: use the caller's KUBECONFIG if set, else start the local
# control plane (devcluster-up does nothing when it already runs) and use it.
#   run: build $(DEVCLUSTER_RUN_DEPS)
#   	KUBECONFIG=$(DEVCLUSTER_RUN_KUBECONFIG) $(BIN_DIR)/storeops serve ...
DEVCLUSTER_RUN_DEPS := $(if $(KUBECONFIG),,devcluster-up)
DEVCLUSTER_RUN_KUBECONFIG := $(or $(KUBECONFIG),$(DEVCLUSTER_KUBECONFIG))
