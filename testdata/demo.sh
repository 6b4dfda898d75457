#!/usr/bin/env bash
# The two-party flow on the bundled CryptoNets and a bundled MNIST digit:
# compile (provider), keygen + encrypt (user), run (provider), decrypt
# (user), then the plaintext prediction of the same circuit for comparison.
# Usage: bash testdata/demo.sh [path/to/hecc]
set -euo pipefail
hecc=$(realpath "${1:-bin/hecc}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
digit=$here/samples/digit0.npy

stage() { # name, then the command; prints the command's output and its wall time
	local name=$1; shift
	local t0 t1
	t0=$(date +%s.%N)
	"$@" | sed 's/^/    /'
	t1=$(date +%s.%N)
	times+=("$(awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-9s %8.3f s", n, b - a }')")
}
times=()

echo "== provider: compile the bundled CryptoNets (calibrated on 1000 held-out digits; results flooded for circuit privacy, the default)"
stage compile "$hecc" compile "$here/models/cryptonets.onnx" -o "$work/cryptonets.hec" \
	--calibration "$here/samples/mnist_calib.npz"
echo "== user: make keys for the model's spec, encrypt $(basename "$digit")"
stage keygen "$hecc" keygen --spec "$work/cryptonets.spec" -o "$work/keys"
stage encrypt "$hecc" encrypt --spec "$work/cryptonets.spec" --key "$work/keys/public.key" "$digit" -o "$work/digit.ct"
echo "== provider: evaluate on the encrypted digit (holds eval.keys, and public.key to flood the result under)"
stage run "$hecc" run "$work/cryptonets.hec" --keys "$work/keys/eval.keys" --public-key "$work/keys/public.key" "$work/digit.ct" -o "$work/result.ct"
echo "== user: decrypt"
stage decrypt "$hecc" decrypt --spec "$work/cryptonets.spec" --key "$work/keys/secret.key" "$work/result.ct" -o "$work/result.npy"
encrypted=$("$hecc" decrypt --spec "$work/cryptonets.spec" --key "$work/keys/secret.key" "$work/result.ct" --json | sed -n 's/.*"top":\[\([0-9]*\).*/\1/p')
echo "== the same circuit in plaintext, for comparison"
stage simulate "$hecc" simulate "$work/cryptonets.hec" "$digit"
plain=$("$hecc" simulate "$work/cryptonets.hec" "$digit" | awk '/top classes/ { print $5 }')

echo "== predicted class: encrypted $encrypted, plaintext $plain$([ "$encrypted" = "$plain" ] && echo ' (agree)' || echo ' (DISAGREE)')"

echo "== wall time per stage (each includes starting hecc and reading its files)"
printf '    %s\n' "${times[@]}"
