# storeops — build, test and run.
#
#   make run    run storeops on its embedded default (stores.example.yaml)
#   make test   lint, build the local control plane if needed, run every test
#   make bench  benchmarks, printed as tables

SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/storeops/storeops/internal/version.Version=$(VERSION)
CACHE_DIR ?= $(CURDIR)/.cache
BIN_DIR := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CACHE_DIR)/tools/staticcheck-$(STATICCHECK_VERSION)
TEST_TIMEOUT ?= 30m


.PHONY: all build test unit lint fmt vet staticcheck run bench bench-cluster bench-fleet clean gitea-bin chromium

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/storeops ./cmd/storeops

# image builds storeops' own container image without a container engine
# (internal/imagebuild): the static binary (CGO_ENABLED=0, -trimpath), CA
# certificates and the non-root user 65532, as an OCI image archive named
# as the chart pulls it (deploy/chart: image.repository, image.tag or
# appVersion). The same sources give the same bytes. Import it with
# `ctr -n k8s.io images import`, `docker load` or push it with skopeo
# (deploy/README.md).
IMAGE_ARCHIVE ?= $(BIN_DIR)/storeops-image.tar
.PHONY: image
image:
	STOREOPS_IMAGE_TEST=1 $(GO) test -count=1 -run TestBuiltImageRuns ./internal/imagebuild
	$(GO) run ./internal/imagebuild/cmd/imagebuild -out $(IMAGE_ARCHIVE) -version $(VERSION)

# Included targets: devcluster-bin, devcluster-up, devcluster-down.
-include deploy/devcluster/devcluster.mk

# test needs, besides Go and git: the local control plane and Gitea (built
# from source into .cache on first use) and Chromium (Debian's package).
# go test starts the packages' tests in the order they are named: the
# longest first, so that they do not start last and hold the run's end.
LONG_TEST_PKGS := ./test/chaos ./reconcile ./test/e2e ./internal/testcluster ./deploy/deploytest ./forge
test: lint devcluster-bin gitea-bin chromium
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(LONG_TEST_PKGS) ./...

# gitea-bin builds the Gitea the forge tests run (several minutes cold).
gitea-bin:
	@$(GO) run ./internal/giteatest/cmd/gitea-build -cache $(CACHE_DIR) >/dev/null

# chromium installs the browser of the dashboard tests when it is missing
# (Debian's package; root or sudo).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing Chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# test-real runs the real-container lane (test/real): a real node (kubelet,
# containerd, runc, kube-proxy) beside the kwok nodes runs pods from images
# the tests build. It needs root; Debian's containerd, runc, CNI plugins and
# iptables (and mmdebstrap, for the stand-in PostgreSQL and Redis images and
# the base of the store images) are installed when missing, the kubelet is
# built once into .cache. TestMedusaStore builds the Medusa images as
# `make images` does (several minutes cold, seconds warm) and runs a store.
# On a host that cannot run containers it says so and skips
# (STOREOPS_REAL_NODE=required fails instead). `make test` never runs it.
STOREOPS_REAL_NODE ?= 1
.PHONY: test-real
test-real: devcluster-bin devcluster-node-deps
	@command -v mmdebstrap >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mmdebstrap >/dev/null; }
	STOREOPS_REAL_NODE=$(STOREOPS_REAL_NODE) nice -n 15 $(GO) test -count=1 -timeout 45m -v ./test/real

# images builds the images storeops owns (the Medusa backend and storefront,
# ghcr.io/storeops/medusa-{backend,storefront}:<appVersion>) as OCI archives
# without a container engine (internal/storeimages): a Debian root filesystem
# by mmdebstrap, Node.js from the npm registry pinned by integrity, locked npm
# dependencies, `medusa build` for the backend. Layers are cached in
# .cache/store-images by their inputs' hashes. It imports them into the real
# node when one runs (make devcluster-up NODE=real); IMAGES_OUT=dir also
# copies the archives there.
.PHONY: images
images:
	@command -v mmdebstrap >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mmdebstrap >/dev/null; }
	nice -n 15 $(GO) run ./internal/storeimages/cmd/storeimages -cache $(CACHE_DIR) $(if $(IMAGES_OUT),-out $(IMAGES_OUT))

# unit runs only the tests that need no cluster.
unit:
	$(GO) test -short -count=1 ./...

lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(STATICCHECK):
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(dir $@)/staticcheck $@

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# run starts the local control plane (unless KUBECONFIG is set), a local Git
# server with a config repository made from stores.example.yaml, and
# storeops serve. Extra flags: make run ARGS="--log-level debug".
# PROFILE=realistic (or bench; TIME_SCALE, FAILURE_PERCENT, NODES) chooses how
# the local control plane's pods behave: deploy/devcluster/README.md.
run: build devcluster-bin
	$(BIN_DIR)/storeops validate -f stores.example.yaml
	GO=$(GO) deploy/run-local.sh $(ARGS)

# bench runs every benchmark (no tests, no cluster) and prints tables with
# the conditions of the run. BENCH=regexp selects, BENCHTIME=1s sets the time.
BENCH ?= .
BENCHTIME ?= 1s
bench:
	@mkdir -p $(CACHE_DIR)
	$(GO) test -short -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./... > $(CACHE_DIR)/bench.txt || { cat $(CACHE_DIR)/bench.txt; exit 1; }
	@$(GO) run ./internal/benchtable < $(CACHE_DIR)/bench.txt

# bench-cluster runs the benchmarks that need the local control plane
# (syncing fleets of stores until they are Ready), printed the same way.
bench-cluster: devcluster-bin
	@mkdir -p $(CACHE_DIR)
	$(GO) test -run '^$$' -bench 'Cluster' -benchtime 1x -timeout 30m ./reconcile > $(CACHE_DIR)/bench-cluster.txt || { cat $(CACHE_DIR)/bench-cluster.txt; exit 1; }
	@$(GO) run ./internal/benchtable < $(CACHE_DIR)/bench-cluster.txt

# bench-fleet measures storeops against a fleet on the bench profile of the
# local control plane (raised controller QPS, 12 fake nodes), one row a
# phase for each size (test/benchfleet): storeops serve with a Git server
# from the webhook to every store Ready (API requests through a counting
# proxy, CPU, peak RSS), webhook to first action while the fleet installs,
# a converged no-op sync, the status API under 200 clients, sync --once,
# and a plain client-go program creating the same objects; prints the
# table and appends it to BENCHMARKS.md. CPU and heap profiles of the
# daemon at the largest size go to .cache/bench-fleet-pprof/ with their
# top functions in .cache/bench-fleet-pprof.txt. BENCH_FLEET_N=100,300,1000;
# BENCH_FLEET_PROBES (50) pushes; BENCH_FLEET_ONCE=0 leaves out sync --once.
# A row that fails is listed as failed; the others' figures are kept.
# A first row installs 20 stores with a sequential `helm upgrade --install
# --wait` loop, with the helm CLI of the Helm SDK version in go.mod built
# into .cache. Before them, on a second local control plane with the
# realistic profile at BENCH_FLEET_TIME_SCALE (0.5: delays at half a real
# cluster's) and no random failures (FAILURE_PERCENT off): one store alone
# (a WooCommerce, then a Medusa store), serve and the client-go reference
# for BENCH_FLEET_REALISTIC_N (100; 0 leaves them out) new stores, and
# serve / (one store alone + reference); about ten minutes. Then the
# stores shared between 1, 2 and 3 replicas (serve --shards 16):
# BENCH_FLEET_REPLICAS_N (100; 0 leaves them out) new stores to Ready.
BENCH_FLEET_N ?= 100
BENCH_FLEET_REALISTIC_N ?= 100
BENCH_FLEET_TIME_SCALE ?= 0.5
HELM_VERSION := $(shell awk '$$1 == "helm.sh/helm/v3" { print $$2 }' go.mod)
HELM_CLI := $(abspath $(CACHE_DIR))/tools/helm-$(HELM_VERSION)/helm
$(HELM_CLI):
	cd / && GOBIN=$(dir $@) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
bench-fleet: devcluster-bin $(HELM_CLI)
	@mkdir -p $(CACHE_DIR)/bench-fleet-pprof && rm -f $(CACHE_DIR)/bench-fleet-pprof/*.pprof
	@BENCH_FLEET_N=$(BENCH_FLEET_N) BENCH_FLEET_REALISTIC_N=$(BENCH_FLEET_REALISTIC_N) BENCH_FLEET_TIME_SCALE=$(BENCH_FLEET_TIME_SCALE) BENCH_FLEET_HELM=$(HELM_CLI) BENCH_FLEET_PROFILE_DIR=$(abspath $(CACHE_DIR))/bench-fleet-pprof \
		$(GO) test -run '^$$' -bench 'Fleet' -benchtime 1x -timeout 120m -v ./test/benchfleet > $(CACHE_DIR)/bench-fleet.txt 2>&1; \
	status=$$?; [ $$status = 0 ] || tail -100 $(CACHE_DIR)/bench-fleet.txt; \
	$(GO) run ./internal/benchtable < $(CACHE_DIR)/bench-fleet.txt | tee $(CACHE_DIR)/bench-fleet.table; \
	for p in $(CACHE_DIR)/bench-fleet-pprof/*.pprof; do [ -e "$$p" ] || continue; echo "== $$p"; $(GO) tool pprof -top -nodecount=25 $$p 2>/dev/null | sed -n '1,32p'; done > $(CACHE_DIR)/bench-fleet-pprof.txt; \
	{ echo; echo "## make bench-fleet, $$(date -u +%Y-%m-%dT%H:%MZ), BENCH_FLEET_N=$(BENCH_FLEET_N)"; echo; \
		[ "$(BENCH_FLEET_REALISTIC_N)" = 0 ] || { echo "Realistic rows: BENCH_FLEET_REALISTIC_N=$(BENCH_FLEET_REALISTIC_N), TIME_SCALE=$(BENCH_FLEET_TIME_SCALE), FAILURE_PERCENT=0 (no random failures)."; echo; }; echo '```'; cat $(CACHE_DIR)/bench-fleet.table; echo '```'; } >> BENCHMARKS.md; \
	exit $$status

# chaos runs the whole fault and hostile-input suite of test/chaos (kill -9,
# Git down, drains, leader changes, hostile input, secrets sweep with the
# pull requests of a real Gitea, API server and etcd restarts, Helm
# operations past --helm-timeout, quotas too small for a release) on the
# realistic local control plane, fuzzes each fuzzer of render for 60 s
# (STOREOPS_CHAOS_FUZZTIME), and prints its table, a row per case and per
# fuzzer; about 30 minutes on 2 cores. CHAOS_RUN=regexp selects cases;
# test/chaos/README.md says how to reproduce each one alone. The full log is
# in .cache/chaos.log. `go test ./test/chaos` runs a reduced set.
CHAOS_RUN ?= .
.PHONY: chaos
chaos: devcluster-bin
	@mkdir -p $(CACHE_DIR)
	@rm -f $(CACHE_DIR)/chaos-table.txt
	@set -o pipefail; STOREOPS_CHAOS=full STOREOPS_CHAOS_TABLE=$(CACHE_DIR)/chaos-table.txt \
		$(GO) test -count=1 -timeout 60m -v -run '$(CHAOS_RUN)' ./test/chaos 2>&1 | tee $(CACHE_DIR)/chaos.log \
		| grep --line-buffered -E '^(=== RUN|--- |ok|FAIL|    [a-z_]+_test\.go)' ; status=$$?; \
	cat $(CACHE_DIR)/chaos-table.txt 2>/dev/null; exit $$status

clean:
	rm -rf $(BIN_DIR)
