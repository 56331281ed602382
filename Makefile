# ttq — build, test and maintenance targets. Everything here uses only the Go
# toolchain; golden regeneration (make goldens) additionally needs Debian's
# python3-torch/python3-sentencepiece and npm, and is never run by CI.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
SHARED   ?= ../shared/data

.PHONY: all build install test test-purego test-race vet fmt-check fuzz-smoke fuzz-long demo demo-check goldens clean regress

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o ttq ./cmd/ttq

install:
	$(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/ttq

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The test command of the README: formatting, vet, then the whole suite.
test: fmt-check vet
	$(GO) test ./...

test-purego:
	$(GO) test -tags purego ./...

# Regression gate: recompute the committed demo comparison (about half a
# minute) and exit 3 if a method got worse beyond tolerance
# (testdata/regress/README.md says how to regenerate the baseline).
regress:
	$(GO) run ./cmd/ttq compare --check testdata/regress/baseline.json

# Every fuzz target, one after another, for FUZZTIME each beyond its
# committed seeds: a few seconds in fuzz-smoke (default 10s), a long hunt
# in fuzz-long (default 10m; a crasher lands in the package's
# testdata/fuzz/, to be fixed and committed as a seed). The targets are
# found in the source, so new ones join automatically.
FUZZ = set -e; grep -rl --include='*_test.go' '^func Fuzz' pkg cmd | sort | while read -r f; do \
		pkg=./$$(dirname $$f); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$pkg $$fn ($(1))"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(1); \
		done; \
	done

fuzz-smoke:
	@$(call FUZZ,$(or $(FUZZTIME),10s))

fuzz-long:
	@$(call FUZZ,$(or $(FUZZTIME),10m))

# The packages that start goroutines under the race detector, -short and
# bounded so CI spends a few minutes on it.
RACE_PKGS = ./pkg/kernels/... ./pkg/quant/... ./pkg/compare/... ./pkg/eval/...
test-race:
	$(GO) test -race -short -timeout 8m $(RACE_PKGS)

# Re-create the embedded demo bundle from the llama2.c originals.
demo: build
	./ttq import --force --llama2c $(SHARED)/models/stories260K/stories260K.bin \
		--tokenizer $(SHARED)/models/stories260K/tok512.model -o pkg/model/demo/stories260K

# Goldens from independent implementations (dev only; outputs are committed).
goldens:
	/usr/bin/python3 scripts/golden/forward/make_tiny.py
	/usr/bin/python3 scripts/golden/forward/ref_llama2c.py
	$(GO) test ./pkg/eval -run TestDemoPerplexityMatchesTorchReference -update-ids
	/usr/bin/python3 scripts/golden/eval/ref_ppl.py

clean:
	rm -f ttq
