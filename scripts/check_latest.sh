#!/usr/bin/env bash
# Early warning, not part of CI: install the NEWEST versions that pyproject.toml's ranges allow
# into a throw-away venv and run the quick tests (not the slow end-to-end ones), so an upstream
# release that breaks us is found by us before a user or a lock refresh meets it. Prints which
# versions differ from requirements/lock.txt. About 5-8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d /tmp/prixfixe-latest-XXXX)
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "torch==2.13.0"   # the CPU build, as bootstrap.sh
"$venv/bin/python" -m pip install -q --upgrade --upgrade-strategy eager -e ".[dev]"
echo "== versions newer than the lock:"
"$venv/bin/python" -m pip freeze | sort > "$venv/freeze.txt"
grep -E '^[a-zA-Z0-9_.-]+==' requirements/lock.txt | sort | comm -13 - "$venv/freeze.txt" \
    | grep -v '^-e ' || echo "(none)"
echo "== quick tests on the newest versions"
"$venv/bin/python" -m pytest -q -n "${PYTEST_WORKERS:-2}" -m "not slow" -p no:cacheprovider "$@"
