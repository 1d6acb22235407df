#!/usr/bin/env bash
# Build the virtual environment the peers suite (tests/peers/) and bench/bench_peers.py run in.
#
#   bash tests/peers/make_env.sh [VENV_DIR]
#
# The reference packages (pytorch-fid, torch-fidelity, clean-fid) import torchvision, and a
# torchvision wheel exists for torch 2.14.1 (torchvision 0.29.1), so this environment pins that
# pair and installs beside it: pytorch-fid, torch-fidelity, clean-fid, torchmetrics, prdc, the
# newer metrics' references (top-pr with gudhi, vendi-score, clip-mmd, lpips for PPL's LPIPS) and the foundation-model
# packages (timm, open_clip_torch), the test
# tools, and fastgan itself, built from this checkout's working tree (tracked and untracked,
# not-ignored files, copied to a temporary folder so nothing is written into the checkout).
#
# VENV_DIR defaults to "${XDG_CACHE_HOME:-$HOME/.cache}/fastgan/peers-venv".
# Environment:
#   PYTHON             interpreter that creates the venv (default: python3.11, else python3)
#   FASTGAN_NO_CUDA=1  build fastgan without its CUDA kernels (passed through to setup.py)
#   PEERS_TORCH        torch version (default 2.14.1); PEERS_TORCHVISION (default 0.29.1)
# The torch 2.14.1 wheel is a CUDA build: the environment takes several GiB.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/fastgan/peers-venv}"
TORCH_VERSION="${PEERS_TORCH:-2.14.1}"
TORCHVISION_VERSION="${PEERS_TORCHVISION:-0.29.1}"

case "$(cd "$(dirname "$VENV")" 2>/dev/null && pwd)/" in
    "$REPO"/*) echo "make_env.sh: refusing to create the venv inside the repository ($VENV)" >&2; exit 2 ;;
esac

if [ -z "${PYTHON:-}" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

start=$(date +%s)
echo "== creating $VENV with $("$PYTHON" --version 2>&1)"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install --upgrade pip setuptools wheel

echo "== torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION and the peers"
# One resolver run with torch pinned, so no peer's requirement moves torch or torchvision.
"$PY" -m pip install \
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    pytorch-fid torch-fidelity clean-fid torchmetrics prdc \
    timm open_clip_torch top-pr vendi-score clip-mmd lpips \
    pytest pytest-benchmark hypothesis pillow numpy scipy

echo "== fastgan from $REPO${FASTGAN_NO_CUDA:+ (FASTGAN_NO_CUDA=$FASTGAN_NO_CUDA)}"
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # The working tree as git sees it (tracked plus untracked, not-ignored files): no build
    # outputs, no in-place extension from another environment.
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | (cd "$SRC" && tar -xf -)
else
    cp -r "$REPO"/. "$SRC"/
    rm -rf "$SRC/build" "$SRC"/fastgan/_C*.so
fi
"$PY" -m pip install --no-deps --force-reinstall "$SRC"
# fastgan's own requirements (torch is already there and stays pinned).
"$PY" -m pip install "torch==$TORCH_VERSION" tqdm matplotlib

# From outside the checkout, so that the installed copy is the one that imports.
(cd / && "$PY" - <<'EOF'
import importlib
from importlib.metadata import version
import torch, torchvision
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
for name, dist in (("pytorch_fid", "pytorch-fid"), ("torch_fidelity", "torch-fidelity"),
                   ("cleanfid", "clean-fid"), ("torchmetrics", "torchmetrics"), ("prdc", "prdc")):
    importlib.import_module(name)
    print(f"{dist} {version(dist)} imports")
import fastgan
info = fastgan.backends()
print(f"fastgan {version('fastgan')} from {fastgan.__file__}: extension {info['cpp']}, "
      f"CUDA kernels {info['cuda_compiled']}")
EOF
)

end=$(date +%s)
echo "== done in $((end - start)) s; size $(du -sh "$VENV" | cut -f1)"
cat <<EOF

Run the peers parity suite (from the repository root):
    $VENV/bin/python -m pytest tests/peers -m peers -q
Run the feature-level benchmark against the peers:
    $VENV/bin/python bench/bench_peers.py            # --quick for a smoke check
The installed fastgan is a copy of the tree as it was now; rerun this script after changing it.
EOF
