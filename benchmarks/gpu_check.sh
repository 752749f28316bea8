#!/usr/bin/env bash
# The GPU run book in one command (benchmarks/gpu_check.py: plan, limits, what it measures):
#   bash benchmarks/gpu_check.sh [OUT_DIR] [gpu_check.py options]    -> OUT_DIR/gpu_check.json
# Uses .venv/bin/python when the checkout has one, else python3 (a GPU image's own torch; the
# checkout is put on PYTHONPATH, so nothing needs installing for sections 1-2).
set -uo pipefail
out=$(realpath -m "${1:-gpu-check}")  # before the cd: relative to where it was called
shift || true
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || py=python3
! command -v nvidia-smi >/dev/null ||
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$py" benchmarks/gpu_check.py --out "$out" "$@"
