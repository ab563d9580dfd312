# vaultkube — see README.md. `make demo` runs the main job, `make test` runs the tests.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/vaultkube/vaultkube/internal/version.Version=$(VERSION) \
	-X github.com/vaultkube/vaultkube/internal/version.Commit=$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	-X github.com/vaultkube/vaultkube/internal/version.Date=$(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || echo unknown)
export CGO_ENABLED := 0

.PHONY: all build test chart-lint test-unit e2e bench demo image release cluster-up cluster-down lint deps packages clean help

all: build

help: ## Show the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build kubectl-vault, vaultkube, vaultkube-injector and vaultkube-agent into bin/.
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...
	$(GO) build -tags nokube -ldflags '$(LDFLAGS)' -o bin/ ./cmd/vaultkube-injector

packages: ## Install the Debian packages the local cluster needs (containerd, runc, CNI, ...).
	hack/install-packages.sh

deps: packages ## Build (or reuse from ~/.cache/vaultkube) etcd, Kubernetes, Vault, CoreDNS, crane.
	hack/build-deps.sh

lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags nokube ./webhook/... ./cmd/vaultkube-injector/
	$(GO) vet -tags e2e ./test/...

test-unit: ## Unit tests (no cluster; installs helm for the chart's tests).
	hack/helm.sh >/dev/null
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags nokube ./webhook/...

e2e: deps build ## End-to-end tests against the real local cluster (started if not running).
	hack/e2e.sh

chart-lint: ## The Helm chart: helm lint --strict, golden helm template output, schema (helm v4 from hack/helm.sh).
	hack/helm.sh >/dev/null
	$(GO) test -count=1 ./charts/

test: lint chart-lint test-unit e2e ## Everything: lint, chart, unit tests, e2e.

bench: deps build ## Benchmarks with comparisons against the peers.
	hack/bench.sh

# make image and make release: reproducible, so every timestamp is the commit's unless
# SOURCE_DATE_EPOCH says otherwise; the binaries' version.Date is that time too.
IMAGE ?= vaultkube.local/vaultkube:dev
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
RELEASE_URL ?= https://github.com/vaultkube/vaultkube/releases/download/$(VERSION)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image release: export SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
RELEASE_LDFLAGS = $(LDFLAGS) -X github.com/vaultkube/vaultkube/internal/version.Date=$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)

image: ## The vaultkube image (linux/amd64+arm64 OCI archive) in dist/vaultkube-image.tar, imported when the local cluster runs.
	VK_IMAGE_PLATFORMS=$(IMAGE_PLATFORMS) VK_IMAGE_REF=$(IMAGE) VK_IMAGE_ARCHIVE=$(CURDIR)/dist/vaultkube-image.tar \
	  VK_BUILDFLAGS=-trimpath VK_LDFLAGS='$(RELEASE_LDFLAGS)' test/cluster/images.sh vaultkube

release: ## kubectl-vault for linux, darwin, windows x amd64, arm64: archives, checksums.txt, krew manifest in dist/release/ (VERSION=vX.Y.Z).
	rm -rf dist/release
	$(GO) run ./hack/release -version '$(VERSION)' -url '$(RELEASE_URL)' -ldflags '$(RELEASE_LDFLAGS)' -o dist/release ./cmd/kubectl-vault

cluster-up: deps ## Start the local cluster (level 2: real pods).
	test/cluster/up.sh 2

cluster-down: ## Stop the local cluster and remove its state.
	test/cluster/down.sh

demo: deps build ## Local cluster with Vault and vaultkube, a pod receiving secrets.
	hack/demo.sh

clean: ## Remove build outputs (not the dependency cache).
	rm -rf bin/
