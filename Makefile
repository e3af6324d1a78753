# sensorprobe — make help lists the targets.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
IMAGE     ?= quay.io/sensorprobe/sensorprobe:$(VERSION)
BASE      ?= gcr.io/distroless/static-debian12:nonroot
# The architectures OpenShift runs on.
PLATFORMS ?= linux/amd64 linux/arm64 linux/ppc64le linux/s390x
CREATED   ?= $(shell git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
PKG_VERSION := github.com/prometheus/common/version
LDFLAGS   := -s -w \
	-X $(PKG_VERSION).Version=$(VERSION) \
	-X $(PKG_VERSION).Revision=$(REVISION) \
	-X $(PKG_VERSION).Branch=$(BRANCH) \
	-X $(PKG_VERSION).BuildUser=sensorprobe \
	-X $(PKG_VERSION).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)

.PHONY: help build binaries test test-short e2e bench bench-short bench-micro lint helm-lint fuzz demo image generate dashboards kube-assets helm clean

help: ## list the targets
	@awk -F':.*## ' '/^[a-z0-9-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/probe (static, version injected)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/probe ./cmd/probe

# The chart tests run the helm named by HELM: by default the one make helm cached, when it has.
HELM ?= $(wildcard $(shell hack/helm.sh --print-path))
export HELM

test: ## run every test with the race detector (tests needing a missing tool skip and say which)
	$(GO) test -race -count=1 ./...

test-short: ## the unit tests alone, no kube-apiserver, no browser
	$(GO) test -short -count=1 ./...

e2e: ## end to end on a node's real plumbing (root): kube-proxy, portmap, Prometheus, faults; docs/e2e.md
	test/e2e/run.sh

# make bench: BENCH=full (minutes, the figures of docs/performance.md) or
# short (seconds, smaller counts; CI). The harness is test/bench.
BENCH ?= full
bench: build ## the harness: bin/probe against stand-ins, CPU beside a bare Go client, memory, leaks, /metrics, scrapes; one table (BENCH=full|short)
	$(GO) test -c -o bin/bench.test ./test/bench
	cd test/bench && BENCH=$(BENCH) SENSORPROBE_BENCH_PROBE=$(CURDIR)/bin/probe \
		../../bin/bench.test -test.run '^TestBench$$' -test.count=1 -test.timeout=60m

bench-short: ## make bench BENCH=short: the same table in seconds with smaller counts (CI runs it)
	$(MAKE) --no-print-directory bench BENCH=short

bench-micro: ## Go micro-benchmarks: CPU and allocations per attempt beside a bare Go client, VSOCK dump parsing
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/dial/ ./internal/vsockwatch/

# Every native fuzz test for FUZZTIME each: hack/fuzz.sh says how.
FUZZTIME ?= 10s
# Short runs: spend little of FUZZTIME shrinking each new input.
FUZZMINIMIZETIME ?= 1s
FUZZ_TARGETS := \
	./internal/app:FuzzParseTarget \
	./internal/app:FuzzParseDaemonValues \
	./internal/dial:FuzzPeerCertificates \
	./internal/dial:FuzzClassify \
	./internal/web:FuzzValidateConfig \
	./internal/vsockwatch:FuzzParseSocket \
	./internal/vsockwatch:FuzzPing \
	./internal/relaylog:FuzzMatchLine \
	./internal/scraperlog:FuzzParse \
	./internal/kube:FuzzRelayPath \
	./test/e2e/nfqueue:FuzzPacketID \
	./test/e2e/promrules:FuzzCompressExpr

fuzz: ## run every fuzz test for FUZZTIME each (default 10s)
	GO=$(GO) hack/fuzz.sh $(FUZZTIME) $(FUZZMINIMIZETIME) $(FUZZ_TARGETS)

lint: ## gofmt, go vet, and golangci-lint pinned in tools/lint/go.mod (errcheck, staticcheck, revive, gosec, …; .golangci.yml)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -race ./...
	$(GO) vet -tags e2e ./test/e2e/
	$(GO) tool -modfile=tools/lint/go.mod golangci-lint run --build-tags e2e ./...

# The chart's lint; the helm binary is $$HELM, else hack/helm.sh's cached build.
CHART := deploy/helm/sensorprobe
helm-lint: ## helm lint --strict deploy/helm/sensorprobe with its defaults and with values-openshift.yaml (helm from HELM or hack/helm.sh)
	@set -e; helm="$${HELM:-$$(hack/helm.sh | tail -n1)}"; \
	echo "$$helm lint --strict $(CHART)"; "$$helm" lint --strict $(CHART); \
	echo "$$helm lint --strict $(CHART) -f $(CHART)/values-openshift.yaml"; "$$helm" lint --strict $(CHART) -f $(CHART)/values-openshift.yaml

demo: ## run the demo: stand-ins on loopback, the real probe loop, metrics on :9090
	$(GO) run ./cmd/probe demo

binaries: ## cross-compile static binaries for PLATFORMS into bin/<os>_<arch>/probe
	@set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		echo "go build $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$${os}_$${arch}/probe ./cmd/probe; \
	done

image: binaries ## multi-arch manifest list $(IMAGE) for PLATFORMS with podman (offline: make image BASE=scratch)
	@if podman manifest exists $(IMAGE); then podman manifest rm $(IMAGE) >/dev/null; fi
	podman manifest create $(IMAGE)
	@set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		echo "podman build $$p"; \
		podman build --quiet --platform $$p --manifest $(IMAGE) \
			--build-arg BASE=$(BASE) --build-arg TARGETOS=$$os --build-arg TARGETARCH=$$arch \
			--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg CREATED=$(CREATED) .; \
	done
	podman manifest inspect $(IMAGE) | grep '"architecture"'

generate: ## regenerate rules, PrometheusRule and dashboards from mixin/ (the one source), and the Helm chart's copies
	$(GO) run ./hack/gen-monitoring

dashboards: generate ## same as generate

kube-assets: ## build and cache kube-apiserver, etcd (integration tests) and kube-proxy (e2e)
	hack/kube-assets.sh

helm: ## build and cache helm from tools/helm; the chart tests run the binary named by HELM (hack/helm.sh prints its path)
	hack/helm.sh

clean: ## remove build output
	rm -rf bin artifacts
