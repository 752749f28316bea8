"""The layering contract (import-linter): it holds, and it fails when an upward import is added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("prixfixe_blocks", "spaces", "search")


def lint(root: Path) -> subprocess.CompletedProcess:
    """Run lint-imports on the packages under `root` (its pyproject's contracts)."""
    return subprocess.run([LINT, "--no-cache"], cwd=root, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root)
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_layers_contract_holds() -> None:
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    assert lint(root).returncode == 0  # the unchanged copy passes
    target = root / "prixfixe_blocks" / "training" / "fit.py"
    target.write_text(target.read_text() + "\nfrom search.experiment import SEARCH_FILE  # noqa\n")
    result = lint(root)
    assert result.returncode != 0
    assert "prixfixe_blocks.training.fit -> search.experiment" in result.stdout


def test_an_import_down_the_library_stack_the_wrong_way_breaks_it(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    target = root / "prixfixe_blocks" / "data" / "read" / "loader.py"
    target.write_text(target.read_text() + "\nfrom prixfixe_blocks.blocks import base  # noqa\n")
    result = lint(root)
    assert result.returncode != 0 and "prixfixe_blocks.data.read.loader" in result.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("store/cache.py", "prixfixe_blocks.data.store.files"),  # the old cache <-> store circle
    ("format/schema.py", "prixfixe_blocks.data.read.loader"),
    ("read/loader.py", "prixfixe_blocks.data.write.writer"),
])
def test_an_upward_import_inside_data_breaks_it(tmp_path: Path, module: str, upward: str) -> None:
    root = copy_tree(tmp_path)
    target = root / "prixfixe_blocks" / "data" / module
    target.write_text(target.read_text() + f"\nimport {upward}  # noqa\n")
    result = lint(root)
    importer = "prixfixe_blocks.data." + module.removesuffix(".py").replace("/", ".")
    assert result.returncode != 0 and f"{importer} -> {upward}" in result.stdout


def test_an_import_up_the_search_rooms_inside_a_function_breaks_it(tmp_path: Path) -> None:
    # search/ is layered too (cli -> commands -> refit -> run -> record -> report -> study ->
    # trial -> experiment); an import hidden in a function is an edge like any other.
    root = copy_tree(tmp_path)
    target = root / "search" / "record" / "tracking.py"
    target.write_text(target.read_text() + "\n\ndef _late() -> None:\n"
                      "    from search.run.driver import run_search  # noqa: F401\n")
    result = lint(root)
    assert result.returncode != 0
    assert "search.record.tracking -> search.run.driver" in result.stdout


def test_every_search_module_belongs_to_a_room(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "search" / "stray.py").write_text('"""A module in no layer."""\n')
    result = lint(root)
    assert result.returncode != 0 and "search.stray" in result.stdout
