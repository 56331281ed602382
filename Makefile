# ttq — build, test and maintenance targets. Everything here uses only the Go
# toolchain; golden regeneration (make goldens) additionally needs Debian's
# python3-torch/python3-sentencepiece and npm, and is never run by CI.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
SHARED   ?= ../shared/data
FUZZTIME ?= 10s

.PHONY: all build install test test-purego vet fmt-check fuzz-smoke demo demo-check goldens clean regress

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

# A few seconds of each fuzz target beyond its committed seeds; the targets
# are found in the source, so new ones join automatically.
fuzz-smoke:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' pkg cmd | sort | while read -r f; do \
		pkg=./$$(dirname $$f); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$pkg $$fn"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
		done; \
	done

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
