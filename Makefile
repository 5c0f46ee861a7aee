# coop — build, test, benchmark, fuzz and demo.
#
#   make demo   a local network on loopback that stores, proves, repairs and computes
#   make test   every test, with the race detector
#
# Each section below belongs to one part of the system; add targets inside it.

GO        ?= go
BIN       := bin/coop
# Per-package time bound for `make test`; the whole suite stays well under 30 min on 2 cores.
TEST_TIMEOUT ?= 15m
# How long each fuzz target runs under `make fuzz`.
FUZZTIME  ?= 15s
DEMO_DIR  ?= $(CURDIR)/.demo

.PHONY: all build test bench fuzz demo lint clean jobs

all: build

build: jobs
	$(GO) build -o $(BIN) ./cmd/coop

# test: vet + gofmt, then every package's tests under the race detector.
test: lint jobs
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# bench: Go benchmarks of every package (figures are reported against a baseline
# measured in the same run; see docs/benchmarks.md).
bench: jobs
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

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

clean:
	rm -rf bin $(DEMO_DIR)
