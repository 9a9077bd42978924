#!/usr/bin/env bash
# Build fcdmbench's wheel and sdist, install the wheel (not editable) into a fresh venv, and run
# every command from an empty folder outside any checkout: what `pip install fcdmbench` gives.
#
#   tools/check_wheel.sh              install the wheel with its dependencies: torch 2.13.0 from
#                                     PyTorch's CPU index, the rest from PyPI (network or pip cache)
#   tools/check_wheel.sh --reuse-deps offline: the fresh venv sees this Python's installed
#                                     packages for the dependencies (fcdmbench itself comes from
#                                     the wheel, checked) and the build uses this Python's setuptools
#
# Needs `build` and `twine` (the dev extra). Prints one line per step with its time; exits
# non-zero at the first step whose exit code or output is not the expected one.
set -euo pipefail
cd "$(dirname "$0")/.."

REUSE=0
if [ "${1:-}" = "--reuse-deps" ]; then REUSE=1; fi
PY="${PYTHON:-python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

step() {  # step NAME EXPECTED_EXIT TEXT_EXPECTED_IN_OUTPUT COMMAND...
  local name="$1" want="$2" text="$3" start code
  shift 3
  start=$EPOCHREALTIME
  set +e
  "$@" > "$TMP/out.txt" 2>&1
  code=$?
  set -e
  awk -v n="$name" -v c="$code" -v a="$start" -v b="$EPOCHREALTIME" \
    'BEGIN { printf "%-22s exit %s  %5.1f s\n", n, c, b - a }'
  if [ "$code" != "$want" ] || ! grep -qF -- "$text" "$TMP/out.txt"; then
    echo "check_wheel: '$name' exited $code (expected $want) or lacks '$text'; its output:" >&2
    tail -n 30 "$TMP/out.txt" >&2
    exit 1
  fi
}

if [ "$REUSE" = 1 ]; then
  step "build wheel + sdist" 0 "Successfully built" "$PY" -m build --no-isolation --outdir "$TMP/dist" .
else
  step "build wheel + sdist" 0 "Successfully built" "$PY" -m build --outdir "$TMP/dist" .
fi
WHEEL="$(ls "$TMP"/dist/fcdmbench-*.whl)"
step "twine check" 0 "PASSED" "$PY" -m twine check --strict "$TMP"/dist/*

# The venv lives in a git repository (as a venv in a user's project folder would): the records
# must not take that repository's sha for fcdmbench's.
git -C "$TMP" init -q && git -C "$TMP" -c user.name=check -c user.email=check@localhost \
  commit -q --allow-empty -m "a user's project"
"$PY" -m venv "$TMP/venv"
VPY="$TMP/venv/bin/python"
if [ "$REUSE" = 1 ]; then
  # The dependencies of this Python, behind the venv's own site-packages (which get the wheel).
  SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  "$PY" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' \
    > "$SITE/zz_reused_dependencies.pth"
  step "install wheel" 0 "Successfully installed" "$VPY" -m pip install --no-deps "$WHEEL"
else
  step "install torch (CPU)" 0 "torch" "$VPY" -m pip install torch==2.13.0 \
    --index-url https://download.pytorch.org/whl/cpu
  step "install wheel" 0 "Successfully installed" "$VPY" -m pip install "$WHEEL[eval-tf-cpu]"
fi

mkdir "$TMP/work" "$TMP/refs"
cd "$TMP/work"  # no checkout above this folder
export FCDMBENCH_REFERENCE_DIR="$TMP/refs" FCDMBENCH_CACHE="$TMP/cache"
FB="$TMP/venv/bin/fcdmbench"
step "import from the wheel" 0 "$TMP/venv" "$VPY" -c 'import fcdmbench; print(fcdmbench.__file__)'
VERSION="$("$VPY" -c 'import fcdmbench; print(fcdmbench.__version__)')"
step "--version" 0 "fcdmbench $VERSION" "$FB" --version
step "models list" 0 "fcdm-xl" "$FB" models list
step "flops" 0 "64.59" "$FB" flops --models fcdm-xl dit-xl
step "roofline" 0 "not a measurement" "$FB" roofline --models fcdm-xl dit-xl-2 \
  --gpu a100-80gb-sxm --precision tf32
step "memory" 0 "rtx-4090" "$FB" memory --models fcdm-xl --batch 256 --gpus 4 \
  --grad-checkpointing --card rtx-4090
step "throughput (CPU)" 0 "fcdm-s" "$FB" throughput --models fcdm-s --device cpu --batch 2 \
  --fcdm-checkpointing off --warmup-calls 2 --warmup-s 0.5 --blocks 5 --min-block-s 0.5 \
  --pause-s 0.1 --out tp.json
step "record: no git sha" 0 "None" "$VPY" -c \
  'import json; print(json.load(open("tp.json"))["run"]["git_sha"])'
step "report" 0 "report.html" "$FB" report --records tp.json --out report
"$VPY" -c 'import numpy as np; np.savez("samples.npz", arr_0=np.zeros((8, 256, 256, 3), np.uint8))'
step "eval (no reference)" 3 "and place it at $TMP/refs/VIRTUAL_imagenet256_labeled.npz" \
  "$FB" eval samples.npz --ref imagenet256 --num 8
step "reference verify" 5 "missing: inception, imagenet256, imagenet512" "$FB" reference verify
step "sample --help" 0 "--ckpt" "$FB" sample --help
echo "check_wheel: the wheel $(basename "$WHEEL") works outside a checkout"
