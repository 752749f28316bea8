#!/usr/bin/env bash
# Set up .venv (the locked versions of requirements/lock.txt) and run one job:
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

install_locked() {
  # uv (its version from the lock) installs the lock in seconds where pip takes about a minute;
  # uv reads no pip.conf, so the local wheel folder (this machine's CPU torch) is passed on,
  # and a failure falls back to pip with the machine's own pip settings. --compile-bytecode as
  # pip does: where PYTHONDONTWRITEBYTECODE is set (this machine), nothing writes .pyc files, and
  # every Ray worker would compile its imports again (a search took twice the CPU).
  local lock="$1" uv links=()
  [ -d /opt/wheels ] && links=(--find-links /opt/wheels)
  uv=$(grep -E '^uv==' requirements/lock.txt || true)
  if [ -n "$uv" ] && .venv/bin/python -m pip install -qq "$uv" &&
     .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python "${links[@]}" -r "$lock" &&
     .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .; then
    return 0
  fi
  echo "==> uv could not install the lock; installing it with pip instead (about a minute)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$lock"
  .venv/bin/python -m pip install -q --no-deps -e .
}

setup() {
  # The exact versions of requirements/lock.txt (what the suite passed with; scripts/lock.sh
  # refreshes it), then this package without touching them. A venv that already has a torch
  # (a cluster image's CUDA build) keeps it: only the lock's CPU torch line is left out.
  local py stamp want lock=requirements/lock.txt
  if [ ! -x .venv/bin/python ]; then
    py=$(find_python)
    echo "==> creating .venv with $py"
    "$py" -m venv .venv
  fi
  stamp=.venv/.bootstrap-stamp
  want=$(cat pyproject.toml "$lock" | cksum)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing the locked versions ($lock) and prixfixe-search into .venv"
    if .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
      grep -v '^torch==' "$lock" > .venv/lock-without-torch.txt
      lock=.venv/lock-without-torch.txt
    fi
    install_locked "$lock"
    echo "$want" > "$stamp"
  fi
}

setup
case "$job" in
  setup) echo "==> set-up done: .venv/bin/prixfixe-search --help" ;;
  demo)  exec .venv/bin/prixfixe-search demo "$@" ;;
  # two pytest workers (PYTEST_WORKERS=N to change): the suite's end-to-end searches wait on
  # Ray and subprocesses, so a second worker fills the 2 cores CI has. Whole files per worker
  # (--dist loadfile): a file's module fixture (a search, a refit) is built once, not once per
  # worker; conftest.py puts the files with a slow test first and --no-loadscope-reorder keeps
  # that order (xdist would otherwise start with the files that have the most tests).
  test)  exec .venv/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@" ;;
  *) echo "usage: ./bootstrap.sh [demo|test|setup] [args...]" >&2; exit 2 ;;
esac
