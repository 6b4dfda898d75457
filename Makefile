# hecc — the two commands a fresh machine needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin/hecc
PYTHON  := /usr/bin/python3
FUZZTIME ?= 60s
# The ONNX backend tests (Debian's libonnx-testdata) the conformance runner
# checks every supported operator against.
ONNX_TESTDATA := /usr/share/libonnx-testdata
# The browser client hecc serve --ui serves.
UI      := bin/ui

.PHONY: all build ui demo test testdeps coverage vet proto models fuzz bench gobench clean

all: build

build: ui
	$(GO) build -o $(BIN) ./cmd/hecc

# The browser client (hecc serve --ui bin/ui): the page, Go's wasm_exec.js,
# and the client half of hecc built to WebAssembly.
ui:
	mkdir -p $(UI)
	cp serve/ui/* $(UI)/
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" $(UI)/
	GOOS=js GOARCH=wasm $(GO) build -trimpath -o $(UI)/hecc.wasm ./cmd/hecc-wasm

# Compile the bundled CryptoNets, make keys, encrypt a bundled digit,
# evaluate it encrypted, decrypt, and compare with the plaintext prediction.
demo: build
	bash testdata/demo.sh $(BIN)

# Install the ONNX backend test data and Chromium when they are missing (as
# root: apt-get, updating the package lists if the first try fails); fail
# when it cannot, since `make test` must run the conformance suite and the
# browser client's test.
testdeps:
	@if [ -d $(ONNX_TESTDATA)/data/node ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y libonnx-testdata || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y libonnx-testdata; } || \
	  { echo "testdeps: could not install libonnx-testdata: the conformance tests need it" >&2; exit 1; }; \
	else echo "testdeps: the ONNX backend test data is missing: run 'sudo apt-get install libonnx-testdata'" >&2; exit 1; fi
	@[ -d $(ONNX_TESTDATA)/data/node ] || { echo "testdeps: $(ONNX_TESTDATA)/data/node is still missing after installing libonnx-testdata" >&2; exit 1; }
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } || \
	  { echo "testdeps: could not install chromium: the browser client's test needs it" >&2; exit 1; }; \
	else echo "testdeps: chromium is missing: run 'sudo apt-get install chromium'" >&2; exit 1; fi
	@command -v chromium >/dev/null || { echo "testdeps: chromium is still not on PATH after installing it" >&2; exit 1; }

# The whole test suite; .ci/run calls exactly this.
test: testdeps
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./cmd/hecc-wasm
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	HECC_REQUIRE_TESTDATA=1 $(GO) test -timeout 20m ./...
	# Three logN 16 models and cnn_maxpool encrypted, alone: their keys and
	# encoded weights take most of the machine (the Fashion CNN and
	# cnn_maxpool keep 4 GiB of their weights encoded and encode the rest in
	# each evaluation). lenet_maxpool, more than 13 GiB of keys, runs only
	# by hand: TestLeNetMaxPoolEncrypted.
	HECC_REQUIRE_TESTDATA=1 HECC_LARGE_TESTS=1 $(GO) test -timeout 20m -run '^Test(DeepMLP|FashionBNGap)Encrypted$$' ./cmd/hecc
	HECC_REQUIRE_TESTDATA=1 HECC_LARGE_TESTS=1 $(GO) test -timeout 20m -run '^TestFashionCNNEncrypted$$' ./cmd/hecc
	HECC_REQUIRE_TESTDATA=1 HECC_LARGE_TESTS=1 $(GO) test -timeout 20m -run '^TestCNNMaxPoolEncrypted$$' ./cmd/hecc
	$(GO) test -race -timeout 10m -run 'Concurrent|Race' ./runtime/... ./passes

vet:
	$(GO) vet ./...

# Rerun the ONNX conformance tests and regenerate docs/operators.md (the
# operators, their opsets and restrictions, and the tests each passes).
coverage: testdeps
	$(GO) test ./compiler -run '^TestConformance$$' -count=1 -update-docs

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
	@set -e; for pkg in ./ir ./compiler ./compiler/onnx ./compiler/tensorio ./runtime; do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
	  done; \
	done

# Benchmark every bundled model end to end (compile, keys, encrypted
# evaluation, accuracy, the floor of Lattigo's primitives) twice and write
# the reports the README quotes: without circuit privacy, every model;
# with it at the default λ (40 bits), the models that afford it
# (BENCH_PRIVATE; LeNet-5, fashion_cnn, fashion_bn_gap and deep_mlp are
# refused at 40 bits, docs/security.md). Then CryptoNets' throughput on a
# full batch of 4096, unflooded (about 2 GB; flooded at λ = 40 it needs
# about 8 GB: docs/bench_batch.md). Minutes; the Fashion CNNs run with
# part of their weights encoded per evaluation and need about 12 GB.
BENCH_PRIVATE = cryptonets cryptonets_dynamic mlp diabetes_reg
bench: build
	$(BIN) bench --samples 10 --floor --no-circuit-privacy --md docs/bench.md --json docs/bench.json --svg docs/bench.svg
	$(BIN) bench --samples 10 --floor $(BENCH_PRIVATE) --md docs/bench_privacy.md --json docs/bench_privacy.json --svg docs/bench_privacy.svg
	$(BIN) bench --batch --floor --no-circuit-privacy cryptonets --md docs/bench_batch.md --json docs/bench_batch.json

# The same models as Go benchmarks, for benchstat between commits.
gobench:
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./benchmarks/...

clean:
	rm -rf bin
