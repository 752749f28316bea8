#!/usr/bin/env bash
# Set up .venv (CPU torch when none is present) and run one job:
#   ./bootstrap.sh demo   - a small local search on simulated data (embedded Ray, SQLite MLflow)
#   ./bootstrap.sh test   - the test suite (what CI runs)
#   ./bootstrap.sh setup  - only the set-up
set -euo pipefail
cd "$(dirname "$0")"
job="${1:-demo}"
shift || true

find_python() {
  for py in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "bootstrap.sh: Python >= 3.11 not found (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

setup() {
  local py stamp want
  if [ ! -x .venv/bin/python ]; then
    py=$(find_python)
    echo "==> creating .venv with $py"
    "$py" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
  fi
  if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
    # The package asks for a torch range (cluster users bring their CUDA build); here we want the
    # CPU build, which this pin selects on the project's machines.
    echo "==> installing CPU torch (torch==${TORCH_VERSION:-2.13.0})"
    .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
  fi
  stamp=.venv/.bootstrap-stamp
  want=$(cat pyproject.toml | cksum)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing prixfixe-search and its dependencies into .venv"
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

setup
case "$job" in
  setup) echo "==> set-up done: .venv/bin/prixfixe-search --help" ;;
  demo)  exec .venv/bin/prixfixe-search demo "$@" ;;
  test)  exec .venv/bin/python -m pytest -q "$@" ;;
  *) echo "usage: ./bootstrap.sh [demo|test|setup] [args...]" >&2; exit 2 ;;
esac
