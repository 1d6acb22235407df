#!/usr/bin/env bash
# Rebuild fastgan._C in place for an editable checkout (pip install -e . --no-build-isolation).
# Serialised with a lock and swapped in atomically, so running processes keep the old module.
# FASTGAN_CUDA_ARCH_LIST defaults to 9.0 here to keep rebuilds short.
set -euo pipefail
cd "$(dirname "$0")/.."
export FASTGAN_CUDA_ARCH_LIST="${FASTGAN_CUDA_ARCH_LIST:-9.0}"
exec 9>"${TMPDIR:-/tmp}/fastgan-build.lock"
flock 9
out="$(mktemp -d)"
python setup.py -q build_ext --build-lib "$out" >"$out/log" 2>&1 || { cat "$out/log"; exit 1; }
grep -iE "warning|error" "$out/log" | grep -v "Running pip" || true
so="$(ls "$out"/fastgan/_C*.so)"
cp "$so" "fastgan/.$(basename "$so").tmp"
mv -f "fastgan/.$(basename "$so").tmp" "fastgan/$(basename "$so")"
rm -rf "$out"
echo "built fastgan/$(basename "$so")"
