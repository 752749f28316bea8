"""The README's main job, `prixfixe-search demo`, end to end at a small size."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from prixfixe_blocks.training.weights import WEIGHTS_FILE
from tests.search_support import run_cli

pytestmark = pytest.mark.slow  # a long file: conftest runs it first


def test_demo_simulates_searches_scores_and_prints_where_to_browse(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path), "--rows", "3000", "--trials", "2",
                     "--epochs", "1", timeout=400)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert (tmp_path / "data" / "dataset.json").is_file()
    assert (tmp_path / "data" / "test_suite" / "suite.tsv").is_file()
    search = tmp_path / "runs" / "demo"
    for name in ("leaderboard.csv", "curves.png", "best_model/spec.json",
                 f"best_model/{WEIGHTS_FILE}"):
        assert (search / name).is_file(), name
    assert not (Path.cwd() / "mlruns").exists()  # artifacts stay beside the SQLite store
    score = re.search(r"DREAM Pearson score (\S+) \(k-mer ridge (\S+)\)", out)
    assert score, out[-3000:]
    assert all(math.isfinite(float(v.rstrip(")"))) for v in score.groups()), score.group(0)
    assert "k-mer r" in out and "snv (alt - ref)" in out  # evaluate's table
    assert "metrics logged to run" in out  # on the best trial's MLflow run
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path.resolve() / 'mlflow.db'}" in out
