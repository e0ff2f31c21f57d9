# peertube-updater — see README.md. Every target installs what it needs (`deps`) first.
SHELL := /bin/bash
SWIFT ?= swift
# Debian packages the build links against. `deps` installs only those missing.
APT_PACKAGES := libsqlite3-dev libfaiss-dev libopenblas-dev libcurl4-openssl-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/debug/peertube-updater
ARGS ?=

.PHONY: help deps build test smoke-cpu smoke-gpu bench clean

help:
	@echo "make smoke-cpu   end-to-end run on the embedded default data (CPU)"
	@echo "make test        build and run every test (what CI runs)"
	@echo "make bench       benchmarks: merge and popularity on 1M-video prod (medians of 3)"
	@echo "make deps        install missing Debian packages: $(APT_PACKAGES)"

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

smoke-cpu: build
	@scripts/smoke-foundation.sh $(ARGS)

smoke-gpu: deps
	@echo "smoke-gpu: GPU mode (device=cuda, mode=gpu) is not built yet; run 'make smoke-cpu'." >&2; exit 1

bench: deps
	$(SWIFT) build -c release --product updater-bench
	.build/release/updater-bench $(ARGS)

clean:
	rm -rf .build tmp bench-data
