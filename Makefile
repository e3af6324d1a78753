# sensorprobe — make help lists the targets.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
IMAGE     ?= quay.io/sensorprobe/sensorprobe:$(VERSION)
BASE      ?= gcr.io/distroless/static-debian12:nonroot
PKG_VERSION := github.com/prometheus/common/version
LDFLAGS   := -s -w \
	-X $(PKG_VERSION).Version=$(VERSION) \
	-X $(PKG_VERSION).Revision=$(REVISION) \
	-X $(PKG_VERSION).Branch=$(BRANCH) \
	-X $(PKG_VERSION).BuildUser=sensorprobe \
	-X $(PKG_VERSION).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)

.PHONY: help build test test-short bench lint demo image kube-assets clean

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/probe (static, version injected)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/probe ./cmd/probe

test: ## run every test with the race detector (tests needing a missing tool skip and say which)
	$(GO) test -race -count=1 ./...

test-short: ## the unit tests alone, no kube-apiserver, no browser
	$(GO) test -short -count=1 ./...

bench: ## benchmarks: CPU and allocations per attempt beside a bare Go client, VSOCK dump parsing
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/dial/ ./internal/vsockwatch/

lint: ## gofmt, go vet, and golangci-lint pinned in tools/lint/go.mod (errcheck, staticcheck, revive, gosec, …; .golangci.yml)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -race ./...
	$(GO) tool -modfile=tools/lint/go.mod golangci-lint run ./...

demo: ## run the demo: stand-ins on loopback, the real probe loop, metrics on :9090
	$(GO) run ./cmd/probe demo

image: build ## container image (offline: make image BASE=scratch)
	podman build --build-arg BASE=$(BASE) -t $(IMAGE) .

kube-assets: ## build and cache kube-apiserver and etcd for the Kubernetes integration tests
	hack/kube-assets.sh

clean: ## remove build output
	rm -rf bin artifacts
