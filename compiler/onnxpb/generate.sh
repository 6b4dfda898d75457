#!/usr/bin/env bash
# Regenerates compiler/onnxpb/onnx.pb.go from the ONNX schema shipped in
# Debian's python3-onnx package. Run from the repository root (make proto).
set -euo pipefail

dir=compiler/onnxpb
schema=/usr/lib/python3/dist-packages/onnx/onnx.proto

if [[ ! -d $dir ]]; then
	echo "generate.sh: run from the repository root ($dir not found)" >&2
	exit 1
fi

# Install the pinned toolchain when we can; otherwise insist it is present so
# the output never silently depends on some other protoc on PATH.
missing=()
[[ -x /usr/bin/protoc ]] || missing+=(protobuf-compiler)
[[ -x /usr/bin/protoc-gen-go ]] || missing+=(protoc-gen-go)
[[ -f $schema ]] || missing+=(python3-onnx)
if ((${#missing[@]})); then
	if [[ $(id -u) -eq 0 ]]; then
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
	else
		echo "generate.sh: missing Debian packages: ${missing[*]} (install them or run as root)" >&2
		exit 1
	fi
fi

# Keep a copy of the input next to the output so the schema is recorded in git.
cp "$schema" "$dir/onnx.proto"

# --proto_path=$dir makes the file name "onnx.proto", which the M option maps
# to our import path without touching the upstream file.
/usr/bin/protoc \
	--plugin=protoc-gen-go=/usr/bin/protoc-gen-go \
	--proto_path="$dir" \
	--go_out="$dir" \
	--go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/hecc-dev/hecc/compiler/onnxpb \
	"$dir/onnx.proto"

# Say in the generated file itself how it was made.
sed -i '/^\/\/ source: onnx.proto$/a // Regenerate with `make proto` (compiler/onnxpb/generate.sh) from onnx.proto of Debian'"'"'s python3-onnx.' "$dir/onnx.pb.go"

echo "generated $dir/onnx.pb.go from $schema ($(dpkg-query -W -f='python3-onnx ${Version}' python3-onnx 2>/dev/null || echo 'python3-onnx'))"
