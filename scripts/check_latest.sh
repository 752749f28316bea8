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
# torch stays the lock's CPU build (requirements/torch-cpu.txt as a constraint): an eager
# upgrade would otherwise fetch the newest CUDA build, several GB of nvidia-* wheels. Newer
# torch releases are for a GPU image to check.
"$venv/bin/python" -m pip install -q -r requirements/torch-cpu.txt
"$venv/bin/python" -m pip install -q --upgrade --upgrade-strategy eager \
    -c requirements/torch-cpu.txt -e ".[dev]"
echo "== versions newer than the lock:"
# name==version with PEP 503 names (Flask_X and flask-x are one package), sorted for comm
normalize() { grep -E '^[A-Za-z0-9_.-]+==' | awk -F'==' '{n = tolower($1); gsub(/[_.]/, "-", n);
  print n "==" $2}' | sort; }
"$venv/bin/python" -m pip freeze | normalize > "$venv/freeze.txt"
newer=$(normalize < requirements/lock.txt | comm -13 - "$venv/freeze.txt")
echo "${newer:-(none)}"
echo "== quick tests on the newest versions"
# (less the test that this environment is the lock: here it is not, on purpose)
"$venv/bin/python" -m pytest -q -n "${PYTEST_WORKERS:-2}" -m "not slow" -p no:cacheprovider \
    --deselect tests/test_lock.py::test_this_environment_has_exactly_the_locked_versions "$@"
