#!/usr/bin/env bash
# Refresh requirements/lock.txt (the exact versions bootstrap.sh installs) from pyproject.toml's
# ranges + the dev extra, then run the whole suite from a fresh clone on the new lock.
#   scripts/lock.sh            # re-resolve: newest versions inside the ranges
#   scripts/lock.sh --keep     # keep locked versions, only add/remove what pyproject changed
# Commit the lock only when the suite passed (the script says so at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
upgrade=--upgrade
[ "${1:-}" = "--keep" ] && upgrade=
[ -x .venv/bin/uv ] || ./bootstrap.sh setup >/dev/null
links=()
[ -d /opt/wheels ] && links=(--find-links /opt/wheels)
# uv keeps the pins of an existing output file unless --upgrade: start from the current lock
cp requirements/lock.txt requirements/lock.txt.new
.venv/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 $upgrade \
    "${links[@]}" --override requirements/torch-cpu.txt --no-header \
    -o requirements/lock.txt.new
{ echo "# Exact versions bootstrap.sh installs (what the suite passed with). Made by"
  echo "# scripts/lock.sh from pyproject.toml + the dev extra; do not edit by hand."
  cat requirements/lock.txt.new; } > requirements/lock.txt.tmp
rm requirements/lock.txt.new
cp requirements/lock.txt requirements/lock.txt.old 2>/dev/null || true
mv requirements/lock.txt.tmp requirements/lock.txt
{ diff -u requirements/lock.txt.old requirements/lock.txt || true; } | grep -E '^[-+][a-z]' \
    || echo "lock unchanged"
rm -f requirements/lock.txt.old

# The suite from a fresh clone (tests read the checkout's commit) with the working tree's
# files, the new lock among them, copied over it, and ../shared beside it.
work=$(mktemp -d /tmp/prixfixe-lock-XXXX)
git clone -q . "$work/main"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work/main"
ln -s "$(cd .. && pwd)/shared" "$work/shared"
start=$(date +%s)
if (cd "$work/main" && ./bootstrap.sh test); then
  echo "lock.sh: suite passed on the new lock in $(( $(date +%s) - start )) s: commit requirements/lock.txt"
else
  echo "lock.sh: the suite FAILED on the new lock: do not commit it (git checkout requirements/lock.txt)" >&2
  exit 1
fi
