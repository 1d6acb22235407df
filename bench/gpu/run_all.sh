#!/usr/bin/env bash
# GPU validation and benchmarks in one run, for a GPU machine without internet (one H100: about
# 8-9 minutes at the default sizes, never more than FASTGAN_GPU_BUDGET_S = 540 s plus the summary).
# Run from anywhere; it works in the repository root:
#
#   bash bench/gpu/run_all.sh                          # every step, default sizes
#   FASTGAN_GPU_QUICK=1 bash bench/gpu/run_all.sh      # smaller sizes (for a rerun)
#   FASTGAN_GPU_STEPS=build,memcheck,racecheck bash bench/gpu/run_all.sh
#   FASTGAN_GPU_DRYRUN=1 bash bench/gpu/run_all.sh     # no GPU: CPU, tiny sizes, results in a temp dir
#
# Steps, in this order (each under its own `timeout`; a failed step is recorded and the run goes
# on; steps are skipped with a reason when the time budget is spent or a tool is missing):
#   env         machine, driver, CUDA, torch, tools                      -> gpu_env.json
#   build       fastgan._C with CUDA kernels in place (.ci/dev-build.sh, FASTGAN_CUDA_ARCH_LIST=9.0)
#   pytest      python -m pytest tests -m cuda                           -> gpu_pytest.json
#   wheel       pip wheel (+ auditwheel repair if installed), installed in a fresh venv with no
#               compiler on PATH; the CUDA kernels must load and run from it
#   losses      fused f-GAN losses vs eager vs torch.compile, n = 64 .. 1e8 (gpu_losses.py)
#   prdc        exact PRDC 50k x 2048 vs three float32 GEMMs (gpu_prdc.py)
#   eval        fastgan.evaluate FID+KID+PRDC+IS, random Inception, 50k/side (gpu_eval.py)
#   eval_peers  vs pytorch-fid / torch-fidelity when importable (gpu_eval_peers.py)
#   faiss       faiss engine tests when faiss sees a GPU (gpu_faiss.py)
#   memcheck    compute-sanitizer --tool memcheck over the CUDA kernel tests
#   racecheck   compute-sanitizer --tool racecheck over the loss-kernel and linalg tests
# The sanitizer steps come last: their run time is the least predictable.
#
# Results: bench/results/gpu_<step>.json (FASTGAN_GPU_RESULTS to change; a dry run writes to
# $FASTGAN_GPU_WORK/results), logs in $FASTGAN_GPU_WORK/logs; with $OUT set (the device runner),
# $OUT/gpu_all.json (every step's JSON), $OUT/gpu_summary.txt and $OUT/gpu_logs.tar.gz, refreshed
# after every step. Exit status 0 when every step passed or was skipped.
#
# Environment (all optional):
#   PYTHON                    interpreter (default python3)
#   FASTGAN_GPU_QUICK=1       smaller default sizes (eval 10k/side, PRDC 20k, four loss sizes)
#   FASTGAN_GPU_DRYRUN=1      CPU and tiny sizes; with FASTGAN_GPU_DRYRUN_CUDA=1 the builds still
#                             compile the CUDA kernels, with FASTGAN_GPU_DRYRUN_SANITIZER=1 the
#                             sanitizer steps run (with whatever compute-sanitizer is on PATH)
#   FASTGAN_GPU_STEPS         comma list of steps to run (default: all); FASTGAN_GPU_SKIP to leave out
#   FASTGAN_GPU_BUDGET_S      wall-clock budget of the whole run (default 540); a step's timeout is
#                             cut to what is left, and a step with < 20 s left is skipped
#   FASTGAN_GPU_T_<STEP>      a step's own timeout in seconds, e.g. FASTGAN_GPU_T_MEMCHECK=300
#   FASTGAN_GPU_WORK          scratch folder (default: a new /tmp/fastgan-gpu.XXXXXX)
#   FASTGAN_GPU_WHEELS        folder of wheels installed first with pip --no-index into
#                             $FASTGAN_GPU_WORK/site (default .whl, when it exists)
#   FASTGAN_GPU_MEMCHECK_TESTS, FASTGAN_GPU_RACECHECK_TESTS  the sanitizer steps' test selection
#                             (pytest arguments; -m cuda -x is added)
#   FASTGAN_GPU_SANITIZER_FILTER kernel-name substring the sanitizers instrument (default fastgan;
#                             "none": every kernel, torch's included: much slower)
#   FASTGAN_GPU_SANITIZER_ARGS   further compute-sanitizer options, e.g. "--report-api-errors no"
#   sizes: FASTGAN_GPU_LOSS_SIZES / _CASES / _REPEAT / _COMPILE, FASTGAN_GPU_PRDC_N / _D / _REPEAT,
#          FASTGAN_GPU_EVAL_N / _PNG_N / _SIZE / _BATCH / _WORKERS (see each gpu_*.py)
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 2
GPU="bench/gpu"
ALL_STEPS="env build pytest wheel losses prdc eval eval_peers faiss memcheck racecheck"
CUDA_STEPS=" pytest losses prdc eval eval_peers faiss memcheck racecheck "
EXT_STEPS=" wheel losses memcheck racecheck "
declare -A CAP=([env]=60 [build]=240 [pytest]=180 [wheel]=120 [losses]=150 [prdc]=90 [eval]=180
                [eval_peers]=180 [faiss]=120 [memcheck]=240 [racecheck]=180)

export PY="${PYTHON:-python3}"
export FASTGAN_GPU_DRYRUN="${FASTGAN_GPU_DRYRUN:-0}"
export PYTHONUNBUFFERED=1
export FASTGAN_CUDA_ARCH_LIST="${FASTGAN_CUDA_ARCH_LIST:-9.0}"
# the tests of the CUDA kernels (fdiv losses, sqrtm Jacobi, tridiagonal bisection); racecheck (shared
# memory hazards) takes the forward-kernel and linalg ones
export FASTGAN_GPU_MEMCHECK_TESTS="${FASTGAN_GPU_MEMCHECK_TESTS:-tests/losses/test_losses.py tests/linalg/test_sqrtm.py tests/linalg/test_tridiag.py tests/test_determinism.py}"
export FASTGAN_GPU_RACECHECK_TESTS="${FASTGAN_GPU_RACECHECK_TESTS:-tests/losses/test_losses.py::TestCuda::test_kernel_vs_torch tests/linalg/test_sqrtm.py tests/linalg/test_tridiag.py}"
export FASTGAN_GPU_SANITIZER_FILTER="${FASTGAN_GPU_SANITIZER_FILTER:-fastgan}"
dryrun() { [[ "$FASTGAN_GPU_DRYRUN" =~ ^(1|true|yes|on)$ ]]; }

# ------------------------------------------------------------------------------ one step's body
# `run_all.sh --step NAME` runs one step; the main run calls it under `timeout`.
step_body() {
  local name="$1" W="$FASTGAN_GPU_WORK"
  case "$name" in
  env)
    command -v nvidia-smi >/dev/null && nvidia-smi
    "$PY" "$GPU/gpu_env.py"
    ;;
  build)
    "$PY" -c "import pybind11" || { echo "pybind11 is not importable (carry its wheel in .whl/ or FASTGAN_GPU_WHEELS)"; return 1; }
    # .ci/dev-build.sh calls `python`: a wrapper (not a symlink, which would lose a venv's site-packages)
    local shim="$W/shim"
    mkdir -p "$shim" && printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$PY")" >"$shim/python" && chmod +x "$shim/python"
    if dryrun && [[ "${FASTGAN_GPU_DRYRUN_CUDA:-0}" != 1 ]]; then
      export FASTGAN_NO_CUDA=1
    else
      export FASTGAN_FORCE_CUDA=1
    fi
    rm -f fastgan/_C*.so
    local t0=$SECONDS
    if command -v flock >/dev/null; then
      PATH="$shim:$PATH" bash .ci/dev-build.sh || return 1
    else  # what .ci/dev-build.sh does, without its lock
      "$PY" setup.py -q build_ext --inplace || return 1
    fi
    echo "build: $((SECONDS - t0)) s"
    "$PY" - "$((SECONDS - t0))" <<'EOF'
import json, os, sys
sys.path.insert(0, "bench/gpu")
import _common as c
from fastgan import _ext
import fastgan
need_cuda = os.environ.get("FASTGAN_FORCE_CUDA") == "1"
b = fastgan.backends()
res = c.Result("build", {"arch_list": os.environ.get("FASTGAN_CUDA_ARCH_LIST"), "cuda": need_cuda})
res.set(build_s=float(sys.argv[1]), backends=b, extension=[p for p in os.listdir("fastgan") if p.startswith("_C")])
print(json.dumps(b, indent=1, default=str))
problems = []
if not _ext.HAS_EXT:
    problems.append(f"fastgan._C did not load: {_ext.EXT_ERROR}")
if need_cuda and not _ext.HAS_CUDA_EXT:
    problems.append("fastgan._C has no CUDA kernels")
if need_cuda and not c.DRYRUN and not _ext.cuda_usable():
    problems.append(f"CUDA kernels not usable: {_ext.cuda_info()}")
res.set(problems=problems)
sys.exit("; ".join(problems) if problems else 0)
EOF
    ;;
  pytest)
    local extra=()
    "$PY" -c "import pytest_timeout" 2>/dev/null && extra+=(--timeout=300)
    "$PY" -m pytest tests -m cuda -q -p no:cacheprovider --junitxml="$W/junit_pytest.xml" "${extra[@]}"
    ;;
  wheel)
    local wh="$W/wheelhouse" venv="$W/venv"
    rm -rf "$wh" "$venv" && mkdir -p "$wh"
    if dryrun && [[ "${FASTGAN_GPU_DRYRUN_CUDA:-0}" != 1 ]]; then export FASTGAN_NO_CUDA=1; else export FASTGAN_FORCE_CUDA=1; fi
    "$PY" -m pip wheel --no-deps --no-build-isolation --no-index -w "$wh" . || return 1
    local whl; whl="$(ls "$wh"/fastgan-*.whl | head -1)"
    local audit="not installed"
    if command -v auditwheel >/dev/null || "$PY" -m auditwheel --version >/dev/null 2>&1; then
      local aw=(auditwheel); command -v auditwheel >/dev/null || aw=("$PY" -m auditwheel)
      "${aw[@]}" show "$whl"
      if "${aw[@]}" repair -w "$wh/repaired" "$whl"; then
        audit="repaired"; whl="$(ls "$wh"/repaired/fastgan-*.whl | head -1)"
      else
        audit="repair failed (the plain wheel is tested)"
      fi
    fi
    echo "auditwheel: $audit; testing $whl"
    "$PY" -m venv --system-site-packages --without-pip "$venv" || return 1
    local site; site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # a venv made from a venv sees the base interpreter's site-packages, not torch's: add the parent's
    "$PY" -c 'import site, sys
for p in site.getsitepackages(): print(f"import site; site.addsitedir({p!r})")' >"$site/_fastgan_parent_site.pth"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$whl" || return 1
    local req=(); dryrun || req=(--require-cuda)
    mkdir -p "$W/outside" && cd "$W/outside" || return 1
    env -u PYTHONPATH -u PYTHONHOME -u CUDA_HOME -u CUDA_PATH PATH="$venv/bin" \
      "$venv/bin/python" "$REPO/$GPU/gpu_wheel_check.py" "$W/wheel_check.json" "${req[@]}"
    local rc=$?
    cd "$REPO" || return 1
    "$PY" - "$whl" "$audit" "$W/wheel_check.json" "$rc" <<'EOF'
import json, os, sys
sys.path.insert(0, "bench/gpu")
import _common as c
whl, audit, check, rc = sys.argv[1:5]
res = c.Result("wheel", {"arch_list": os.environ.get("FASTGAN_CUDA_ARCH_LIST")})
try:
    checks = json.loads(open(check).read())
except (OSError, ValueError) as exc:
    checks = {"error": f"no check output: {exc}"}
res.set(wheel=os.path.basename(whl), wheel_mib=round(os.path.getsize(whl) / 2**20, 2), auditwheel=audit,
        check_rc=int(rc), check=checks,
        headline=f"{os.path.basename(whl)}, auditwheel {audit}, check {'ok' if rc == '0' else 'FAILED'}")
EOF
    return $rc
    ;;
  losses|prdc|eval|eval_peers)
    "$PY" "$GPU/gpu_$name.py"
    ;;
  faiss)
    "$PY" "$GPU/gpu_faiss.py" "$W/junit_faiss.xml"
    ;;
  memcheck|racecheck)
    local san; san="$(cd "$GPU" && "$PY" -c 'import _common; print(_common.sanitizer_path() or "")')"
    local filt=()
    if [[ "$FASTGAN_GPU_SANITIZER_FILTER" != none ]]; then
      if "$san" --help 2>&1 | grep -q -- "--kernel-name"; then filt=(--kernel-name "kns=$FASTGAN_GPU_SANITIZER_FILTER")
      else filt=(--filter "kns=$FASTGAN_GPU_SANITIZER_FILTER"); fi
    fi
    local envs=() tests="$FASTGAN_GPU_RACECHECK_TESTS"
    # without torch's caching allocator every tensor is its own cudaMalloc, so memcheck sees its bounds
    [[ "$name" == memcheck ]] && envs=(PYTORCH_NO_CUDA_MEMORY_CACHING=1) && tests="$FASTGAN_GPU_MEMCHECK_TESTS"
    "$san" --version | tail -1
    # shellcheck disable=SC2086  # the test selection is a word list
    env "${envs[@]}" PYTHONPATH="$REPO/$GPU:$PYTHONPATH" \
      "$san" --tool "$name" --error-exitcode 86 --print-limit 50 "${filt[@]}" ${FASTGAN_GPU_SANITIZER_ARGS:-} \
      "$PY" -m pytest $tests -m cuda -x -q -p no:cacheprovider -p _pytest_no_deadline \
      --junitxml="$W/junit_$name.xml"
    ;;
  *) echo "unknown step $name"; return 2 ;;
  esac
}

if [[ "${1:-}" == --step ]]; then
  step_body "$2"
  exit $?
fi
if [[ "${1:-}" =~ ^(-h|--help)$ ]]; then
  sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi

# ------------------------------------------------------------------------------ set-up
BUDGET="${FASTGAN_GPU_BUDGET_S:-540}"
DEADLINE=$(( $(date +%s) + BUDGET ))
export FASTGAN_GPU_WORK="${FASTGAN_GPU_WORK:-$(mktemp -d /tmp/fastgan-gpu.XXXXXX)}"
if dryrun; then
  export FASTGAN_GPU_RESULTS="${FASTGAN_GPU_RESULTS:-$FASTGAN_GPU_WORK/results}"
else
  export FASTGAN_GPU_RESULTS="${FASTGAN_GPU_RESULTS:-$REPO/bench/results}"
fi
LOGS="$FASTGAN_GPU_WORK/logs"
mkdir -p "$LOGS" "$FASTGAN_GPU_RESULTS"
: >"$FASTGAN_GPU_WORK/steps.txt"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
WHEELS="${FASTGAN_GPU_WHEELS:-$REPO/.whl}"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  echo "[run_all] installing the wheels in $WHEELS into $FASTGAN_GPU_WORK/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$FASTGAN_GPU_WORK/site" "$WHEELS"/*.whl \
    && export PYTHONPATH="$PYTHONPATH:$FASTGAN_GPU_WORK/site"
fi

RESERVE=10
MIN_STEP=20
SELECTED=" ${FASTGAN_GPU_STEPS:-$ALL_STEPS} "; SELECTED="${SELECTED//,/ }"
SKIPPED_BY_USER=" ${FASTGAN_GPU_SKIP:-} "; SKIPPED_BY_USER="${SKIPPED_BY_USER//,/ }"
BUILD_FAILED=0
FAILURES=0
echo "[run_all] work $FASTGAN_GPU_WORK, results $FASTGAN_GPU_RESULTS, budget ${BUDGET} s, python $(command -v "$PY")$(dryrun && echo ', DRY RUN (CPU, tiny sizes)')"

record() {  # name status rc seconds log [options...]; fails when the step's final status is a failure
  local rc=0
  "$PY" "$GPU/_record.py" step "$@" || rc=1
  "$PY" "$GPU/_record.py" bundle
  return $rc
}

skip_reason() {  # why a step is not run, or nothing
  local name="$1"
  if [[ "$name" == memcheck || "$name" == racecheck ]]; then
    local san; san="$(cd "$GPU" && "$PY" -c 'import _common; print(_common.sanitizer_path() or "")' 2>/dev/null)"
    [[ -z "$san" ]] && { echo "compute-sanitizer not found (PATH, CUDA_HOME, /usr/local/cuda)"; return; }
  fi
  if [[ "$CUDA_STEPS" == *" $name "* && "$HAS_CUDA" != 1 ]]; then
    if ! dryrun; then echo "no CUDA device visible to torch"; return; fi
    if [[ ( "$name" == memcheck || "$name" == racecheck ) && "${FASTGAN_GPU_DRYRUN_SANITIZER:-0}" != 1 ]]; then
      echo "dry run: no GPU to sanitize"; return
    fi
  fi
  if [[ "$EXT_STEPS" == *" $name "* && "$BUILD_FAILED" == 1 ]]; then echo "the build step failed"; return; fi
}

run_step() {
  local name="$1"
  [[ "$SELECTED" == *" $name "* && "$SKIPPED_BY_USER" != *" $name "* ]] || return 0
  local log="$LOGS/$name.log"
  rm -f "$FASTGAN_GPU_RESULTS/gpu_$name.json"
  local why; why="$(skip_reason "$name")"
  if [[ -n "$why" ]]; then
    echo "skipped: $why" >"$log"
    record "$name" skipped 0 0 "$log" --reason "$why"
    return 0
  fi
  local var="FASTGAN_GPU_T_${name^^}"
  local cap="${!var:-${CAP[$name]}}"
  local left=$(( DEADLINE - $(date +%s) - RESERVE ))
  local t=$(( cap < left ? cap : left ))
  if (( t < MIN_STEP )); then
    echo "skipped: time budget (${left} s left of ${BUDGET} s)" >"$log"
    record "$name" skipped 0 0 "$log" --reason "time budget: ${left} s left"
    return 0
  fi
  echo "[run_all] $name (timeout ${t} s) ..."
  local t0; t0=$(date +%s.%N)
  timeout -k 10 "$t" bash "$0" --step "$name" >"$log" 2>&1
  local rc=$?
  local secs; secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  local status=failed reason=""
  case $rc in
    0) status=ok ;;
    3) status=skipped ;;
    124|137) status=timeout; reason="stopped by its ${t} s timeout" ;;
  esac
  local opts=(--timeout "$t")
  [[ -n "$reason" ]] && opts+=(--reason "$reason")
  case "$name" in
    pytest|faiss|memcheck|racecheck) opts+=(--junit "$FASTGAN_GPU_WORK/junit_$name.xml") ;;
  esac
  [[ "$name" == memcheck || "$name" == racecheck ]] && opts+=(--sanitizer "$name")
  if ! record "$name" "$status" "$rc" "$secs" "$log" "${opts[@]}"; then
    FAILURES=$((FAILURES + 1))
    tail -n 15 "$log" | sed "s/^/    [$name] /"
    [[ "$name" == build ]] && BUILD_FAILED=1
  fi
}

HAS_CUDA="$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)"
for step in $ALL_STEPS; do
  run_step "$step"
done

echo
echo "[run_all] summary ($(( BUDGET - (DEADLINE - $(date +%s)) )) s; results in $FASTGAN_GPU_RESULTS${OUT:+, bundle in \$OUT})"
"$PY" "$GPU/_record.py" summary
exit $(( FAILURES > 0 ))
