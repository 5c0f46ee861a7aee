# coop — build, test, benchmark, fuzz and demo.
#
#   make demo   a local network on loopback that stores, proves, repairs and computes
#   make test   every test, with the race detector
#
# Each section below belongs to one part of the system; add targets inside it.

GO        ?= go
BIN       := bin/coop
HOST_OS   := $(shell $(GO) env GOOS)
HOST_ARCH := $(shell $(GO) env GOARCH)
# Per-package time bound for `make test` (cmd/coop, which builds the release
# tarball, takes 10–15 min on a loaded 2-core machine); the whole suite stays
# under 30 min on 2 cores.
TEST_TIMEOUT ?= 25m
# How long each fuzz target runs under `make fuzz`.
FUZZTIME  ?= 15s
DEMO_DIR  ?= $(CURDIR)/.demo

.PHONY: all build test bench bench-net fuzz demo lint clean jobs dist dist-check testbed sim

all: build

# build: bin/coop and bin/lib/libwasmer.so, which run without Go or the module
# cache (see the dist section and docs/operations.md). Elsewhere than on Linux, a
# plain go build (the binary then finds libwasmer in the module cache).
build: jobs
ifeq ($(HOST_OS),linux)
	$(call coop-build,$(HOST_ARCH),$(dir $(BIN)))
else
	$(GO) build -o $(BIN) ./cmd/coop
endif

# test: vet + gofmt, then every package's tests under the race detector.
test: lint jobs
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# bench: Go benchmarks of every package (figures are reported against a baseline
# measured in the same run; see docs/benchmarks.md).
bench: jobs
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# bench-net: only the network put/get on a 6-node loopback devnet (k=4 m=2),
# best of two rounds per figure, as ratios against the local pipeline (x-local)
# and one raw libp2p stream (x-raw) measured in the same run, with the stages of
# each. Sizes in MiB: make bench-net BENCH_NET_MIB=256,1024
BENCH_NET_MIB ?= 256
bench-net: jobs
	COOP_BENCH_NET_MIB=$(BENCH_NET_MIB) $(GO) test -run '^$$' -bench 'BenchmarkNetwork$$' -benchtime 2x -timeout 60m ./node/

# fuzz: each checked-in fuzz target for $(FUZZTIME).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# testbed: coop on ten hosts in network namespaces (root only), one behind a
# NAT router, 25 Mbit/s uplinks: put and get from the NAT'd host, a holder cut
# off, parallel fetch at k=1/4/8; prints the report and removes every
# namespace, also after a failure (docs/testbed.md). CI runs a bounded form
# in `make test`.
testbed:
	COOP_TESTBED_FULL=1 $(GO) test -count=1 -v -timeout 30m -run '^TestCoopOnTestbed$$' ./internal/testbed

# sim: the scale simulation (package sim): Kademlia lookups on the real
# kad-dht over mocknet at N = 100, 300, 1000, two runs each with one seed;
# placement balance and a day of churn with repair on 1,000 nodes (the real
# placement and repair rules over a simulated ledger); writes docs/scale.md,
# docs/scale-lookup.png, scale-placement.png and scale-churn.png.
# make sim SIM_SEED=n
SIM_SEED  ?= 1
SIM_NODES ?= 100,300,1000
sim:
	$(GO) run ./sim/cmd/sim -seed $(SIM_SEED) -nodes $(SIM_NODES)

# demo: see README.md.
demo: build
	$(BIN) demo --dir $(DEMO_DIR)

# ---- compute: example WASM jobs (examples/jobs) -----------------------------
JOBS := $(patsubst examples/jobs/%/main.go,examples/jobs/%.wasm,$(wildcard examples/jobs/*/main.go))

jobs: $(JOBS)

examples/jobs/%.wasm: FORCE
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./examples/jobs/$*

.PHONY: FORCE
FORCE:

# ---- dist: a self-contained binary and release tarballs (docs/operations.md) --
# coop links the libwasmer.so that the wasmer-go module ships (build tag
# custom_wasmer_runtime, so the module's own RUNPATH into the module cache is
# not linked) and finds it in lib/ beside itself through an $ORIGIN RUNPATH.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Tarball timestamps: the commit's time, so a rebuild gives the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Evaluated once: files edited during a build must not change the names.
VERSION    := $(VERSION)
COMMIT     := $(COMMIT)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
DIST_DIR   ?= dist
DIST_ARCHS ?= amd64 arm64
WASMER_GO  := github.com/wasmerio/wasmer-go
# C compiler and strip per GOARCH: the host's own, else Debian's cross
# toolchains (gcc-aarch64-linux-gnu, gcc-x86-64-linux-gnu).
CC_$(HOST_ARCH)    ?= $(CC)
STRIP_$(HOST_ARCH) ?= strip
CC_amd64    ?= x86_64-linux-gnu-gcc
STRIP_amd64 ?= x86_64-linux-gnu-strip
CC_arm64    ?= aarch64-linux-gnu-gcc
STRIP_arm64 ?= aarch64-linux-gnu-strip
# The directory of wasmer-go's packaged/lib holding libwasmer.so per GOARCH.
WASMER_LIB_amd64 := linux-amd64
WASMER_LIB_arm64 := linux-aarch64

# coop-build ARCH,DIR: DIR/coop for linux/ARCH and DIR/lib/libwasmer.so (its
# debug info stripped: 15 MB → 12 MB on amd64).
define coop-build
	@set -e; test -n "$(WASMER_LIB_$(1))" || { echo "dist: no libwasmer for linux/$(1)" >&2; exit 1; }; \
	pkg=$$($(GO) mod download -json $(WASMER_GO) >/dev/null && $(GO) list -m -f '{{.Dir}}' $(WASMER_GO))/wasmer/packaged; \
	mkdir -p $(2)lib; \
	echo "build linux/$(1) → $(2)coop"; \
	CGO_ENABLED=1 GOOS=linux GOARCH=$(1) CC=$(CC_$(1)) \
	  CGO_CFLAGS="-O2 -I$$pkg/include" \
	  CGO_LDFLAGS="-L$$pkg/lib/$(WASMER_LIB_$(1)) -lwasmer -Wl,-rpath,\$$ORIGIN/lib" \
	  $(GO) build -tags custom_wasmer_runtime -trimpath \
	    -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(2)coop ./cmd/coop; \
	rm -f $(2)lib/libwasmer.so; \
	$(STRIP_$(1)) --strip-debug -o $(2)lib/libwasmer.so $$pkg/lib/$(WASMER_LIB_$(1))/libwasmer.so; \
	install -m 0644 $$pkg/../../LICENSE $(2)lib/LICENSE.wasmer-go
endef

# dist: for each of DIST_ARCHS, DIST_DIR/coop-VERSION-linux-ARCH.tar.gz (one
# directory: coop, lib/, README.md, operations.md) and its .sha256.
dist: $(addprefix dist-linux-,$(DIST_ARCHS))

dist-linux-%: FORCE
	rm -rf $(DIST_DIR)/coop-$(VERSION)-linux-$*
	$(call coop-build,$*,$(DIST_DIR)/coop-$(VERSION)-linux-$*/)
	cp README.md docs/operations.md $(DIST_DIR)/coop-$(VERSION)-linux-$*/
	cd $(DIST_DIR) && name=coop-$(VERSION)-linux-$* && \
	  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) -cf - $$name | gzip -9n > $$name.tar.gz && \
	  sha256sum $$name.tar.gz > $$name.tar.gz.sha256 && \
	  ls -l $$name/coop $$name/lib/libwasmer.so $$name.tar.gz

# dist-check: each tarball unpacked elsewhere runs `coop version` and a job with
# the module cache hidden (cmd/coop TestDistTarball; other arches under qemu-user).
# (-race: the test binary is then the one `make test` builds.)
dist-check: dist
	@set -e; for a in $(DIST_ARCHS); do \
	  COOP_DIST_TARBALL=$(abspath $(DIST_DIR))/coop-$(VERSION)-linux-$$a.tar.gz \
	    $(GO) test -race -count=1 -v -run '^TestDistTarball$$' ./cmd/coop; \
	done

clean:
	rm -rf bin $(DEMO_DIR) $(DIST_DIR)
