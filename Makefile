# hecc — the two commands a fresh machine needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin/hecc
PYTHON  := /usr/bin/python3
FUZZTIME ?= 60s

.PHONY: all build demo test vet proto models fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hecc

# Compile the bundled CryptoNets, make keys, encrypt a bundled digit,
# evaluate it encrypted, decrypt, and compare with the plaintext prediction.
demo: build
	bash testdata/demo.sh $(BIN)

# The whole test suite; .ci/run calls exactly this.
test:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) test -timeout 20m ./...
	$(GO) test -race -timeout 10m -run 'Concurrent|Race' ./runtime/...

vet:
	$(GO) vet ./...

# Regenerate the ONNX protobuf bindings from Debian's python3-onnx schema.
proto:
	bash compiler/onnxpb/generate.sh

# Retrain and re-export the bundled models and samples (minutes; needs
# Debian's python3-torch, python3-onnx and npm).
models:
	bash testdata/fetch_data.sh
	$(PYTHON) testdata/train_export.py

# Run every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in ./ir ./compiler/onnx ./compiler/tensorio ./runtime; do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./benchmarks/...

clean:
	rm -rf bin
