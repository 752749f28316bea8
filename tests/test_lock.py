"""The lock is what bootstrap.sh installs and it matches pyproject.toml: every dependency (and
the dev extra) is pinned to one exact version inside its range, torch as the CPU build."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (REPO / "requirements/lock.txt").read_text(),
                      re.M)
    return {canonicalize_name(name): version for name, version in pins}


def test_every_dependency_is_pinned_inside_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    locked = _locked()
    wanted = [Requirement(r) for r in (*project["dependencies"],
                                       *project["optional-dependencies"]["dev"])]
    assert len(wanted) > 10
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is not in requirements/lock.txt: run scripts/lock.sh"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"lock has {req.name}=={locked[name]}, outside pyproject's {req.specifier}")
    assert locked["torch"].endswith("+cpu")  # never the multi-GB CUDA build
    assert not any(name.startswith("nvidia-") for name in locked)


def test_bootstrap_installs_the_lock() -> None:
    script = (REPO / "bootstrap.sh").read_text()
    assert "lock=requirements/lock.txt" in script
    uv = 'uv pip install -q --compile-bytecode --python .venv/bin/python "${links[@]}" -r "$lock"'
    assert uv in script  # bytecode compiled, as pip does (PYTHONDONTWRITEBYTECODE or not)
    assert 'pip install -q -r "$lock"' in script  # the fallback when uv cannot
    assert script.count("--no-deps -e .") == 2  # the package itself changes no locked version


def test_this_environment_has_exactly_the_locked_versions() -> None:
    """What `./bootstrap.sh test` runs in: every locked package at its locked version (torch
    aside: bootstrap keeps a torch the venv already had, a cluster image's CUDA build)."""
    locked = _locked()
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in importlib.metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in locked.items()
             if name != "torch" and installed.get(name) != version}
    assert not wrong, f"(locked, installed) differ: {wrong}; run ./bootstrap.sh setup"
