# authsvc — the two commands a newcomer needs are `make run` and `make test`.
# Tools are pinned Go tools in their own modules under tools/ (no network fetches at
# run time beyond the Go module proxy, no remote buf plugins).

GO       ?= go
BUF      := $(GO) tool -modfile=$(CURDIR)/tools/buf/go.mod buf
LINT     := $(GO) tool -modfile=$(CURDIR)/tools/lint/go.mod golangci-lint
HELM     := $(GO) tool -modfile=$(CURDIR)/tools/helm/go.mod helm
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
TESTFLAGS ?= -timeout 20m

.PHONY: all run build image deps test test-race lint generate generate-check bench fuzz helm-lint clean

all: build

## run: start the service in dev mode (embedded Redis-protocol server, ephemeral keys, dev outbox)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/authsvc -dev

## build: build authsvc and authctl into bin/, version stamped
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/authsvc ./cmd/authctl

# The container image: its repository (what the tarball is tagged as) and architecture.
IMAGE_REPO ?= ghcr.io/authsvc/authsvc
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_TAG  ?=

## image: build the container image without a Docker daemon (tools/image): artifacts/image/oci (OCI layout) and artifacts/image/authsvc.tar
image:
	$(GO) -C tools/image run . build -src $(CURDIR) -out $(CURDIR)/artifacts/image \
		-version $(VERSION) -revision "$$(git rev-parse HEAD 2>/dev/null)" -created "$$(git log -1 --format=%cI 2>/dev/null)" \
		-arch $(IMAGE_ARCH) -repository $(IMAGE_REPO) $(if $(IMAGE_TAG),-tag $(IMAGE_TAG))

## deps: make sure this machine has what the tests start (redis-server, postgres) and axe-core for the browser tests
deps:
	@scripts/ensure-deps
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix test/axe --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the accessibility tests (axe-core) will skip; install npm (Debian: apt-get install npm)"; fi

## test: generated code current, linters, then every test against real redis-server processes
test: deps generate-check lint
	$(GO) test $(TESTFLAGS) ./...

## test-race: the whole suite under the race detector
test-race: deps
	$(GO) test -race $(TESTFLAGS) ./...

## lint: gofmt, go vet and golangci-lint with the config in .golangci.yml (the service and tools/image)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(LINT) run ./...
	$(GO) -C tools/image vet ./...
	cd tools/image && $(LINT) run ./...
	cd api/proto && $(BUF) lint

## generate: regenerate the gRPC/protobuf code from api/proto, and the variable tables of docs/configuration.md from cmd/authsvc/settings.go
generate:
	cd api/proto && $(BUF) generate
	$(GO) test -count=1 -run '^TestConfigurationDoc$$' ./cmd/authsvc -update

## generate-check: fail when the committed generated code or docs differ from a fresh generation
generate-check:
	@$(GO) test -count=1 -run '^TestConfigurationDoc$$' ./cmd/authsvc >/dev/null || { \
		$(GO) test -count=1 -run '^TestConfigurationDoc$$' ./cmd/authsvc | head -20; \
		echo "docs/configuration.md is stale: run 'make generate' and commit"; exit 1; }
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp -r api/gen $$tmp/before; \
	cd api/proto && $(BUF) generate && cd ../..; \
	if ! diff -r $$tmp/before api/gen >/dev/null; then \
		diff -r $$tmp/before api/gen | head -20; rm -rf api/gen; cp -r $$tmp/before api/gen; \
		echo "generated code is stale: run 'make generate' and commit"; exit 1; fi

# REFERENCE: the reference flow's run.sh, run just before and after the production-like
# section, for the ratio (e.g. make bench REFERENCE=../shared/perf/reference-flow/run.sh).
REFERENCE ?=
BENCHARGS ?=

## bench: authsvc as its own process (plaintext and TLS), the cost-growth table, round trips per RPC and bytes per pending verification against a real redis-server; ends with the BENCH line
bench: deps
	@out=$$(mktemp /tmp/perf-bench.XXXXXX); rc=$$(mktemp /tmp/perf-bench-rc.XXXXXX); trap 'rm -f $$out $$rc' EXIT; \
	{ $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 45m ./internal/bench/ -args -report \
		$(if $(REFERENCE),-reference $(abspath $(REFERENCE))) $(BENCHARGS) 2>&1; echo $$? > $$rc; } | tee $$out; \
	grep '^BENCH ' $$out | tail -1; exit $$(cat $$rc)

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

## helm-lint: lint the chart
helm-lint:
	$(HELM) lint --strict deploy/helm/authsvc -f deploy/helm/testdata/minimal.yaml
	$(HELM) lint --strict deploy/helm/authsvc -f deploy/helm/testdata/full.yaml

clean:
	rm -rf bin artifacts
