"""The tabular search benchmark's parts: the curve table, the replay trainable, the figures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import ray

from benchmarks.replay import Method, best_so_far, efficiency, replay_search
from benchmarks.replay_table import config_key, read_table, write_table
from prixfixe_blocks.errors import DataError
from spaces import grid_size, grid_space, load_space, parse_fixes, sample_configs
from tests.conftest import REPO

FIX = ["strategy=autosome", "first=autosome"]  # a 3 x 3 grid (core x final)
EPOCHS = 4


def tiny_grid_table(path: Path) -> dict[str, list[float]]:
    """A recorded-looking table over the 9-cell grid: one clearly best cell, the rest poor."""
    space = load_space("prixfixe-grid", width="tiny", fixed=parse_fixes(FIX))
    configs = sample_configs(space, grid_size(space), grid=True)
    dims = tuple(grid_space(space))
    rows, curves = [], {}
    for index, config in enumerate(configs):
        key = config_key(config, dims)
        top = 0.8 if index == 4 else 0.1 + 0.02 * index
        curves[key] = [top * e / EPOCHS for e in range(1, EPOCHS + 1)]
        rows += [{"key": key, "config": json.dumps(config, default=str), "epoch": e,
                  "val_pearson": curves[key][e - 1], "seconds": 1.0, "n_parameters": 100 + index}
                 for e in range(1, EPOCHS + 1)]
    write_table(rows, path, {"space": "prixfixe-grid", "width": "tiny", "fix": json.dumps(FIX)})
    return curves


def test_table_round_trip_keeps_curves_and_how_it_was_made(tmp_path: Path) -> None:
    curves = tiny_grid_table(tmp_path / "t.parquet")
    table = read_table(tmp_path / "t.parquet")
    assert table.values == {k: tuple(v) for k, v in curves.items()}
    assert table.epochs == EPOCHS and table.grid_trial_epochs == 9 * EPOCHS
    assert table.best == pytest.approx(0.8)
    assert json.loads(table.metadata["fix"]) == FIX


def test_table_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    tiny_grid_table(path)
    rows = pq.read_table(path).to_pylist()
    write_table([r for r in rows if not (r["epoch"] == 2 and r is rows[1])], path, {})
    with pytest.raises(DataError, match=r"t\.parquet: row \d+: field 'epoch'"):
        read_table(path)
    pq.write_table(pq.read_table(path).drop_columns(["seconds"]), path)
    with pytest.raises(DataError, match="lacks column.*seconds"):
        read_table(path)


def test_efficiency_figures_by_hand() -> None:
    curve = best_so_far([(3.0, 0.5), (1.0, 0.2), (2.0, 0.1), (4.0, 0.99), (5.0, 0.3)])
    assert curve.tolist() == [0.2, 0.2, 0.5, 0.99, 0.99]
    figures = efficiency(curve, grid_best=1.0, grid_trial_epochs=10)
    assert figures["epochs_to_target"] == 4.0  # 0.99 >= 0.99 x 1.0 at the 4th trial-epoch
    assert figures["best_at_10pct"] == 0.2 and figures["best_at_20pct"] == 0.2
    assert figures["best_at_50pct"] == 0.99  # the search ended sooner: its last value
    assert math.isinf(efficiency(curve, 2.0, 10)["epochs_to_target"])


@pytest.fixture(scope="module")
def ray_local() -> None:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_replay_runs_the_search_stack_over_recorded_curves(tmp_path: Path, ray_local: None
                                                           ) -> None:
    curves = tiny_grid_table(tmp_path / "t.parquet")
    values = {v for c in curves.values() for v in c}
    budget = 0.75
    curve = replay_search(tmp_path / "t.parquet", Method("random", "asha", grace_period=1), seed=0,
                          budget_fraction=budget, time_scale=0.002, storage=tmp_path / "st")
    assert 0 < len(curve) <= int(budget * 9 * EPOCHS)
    assert set(curve.tolist()) <= values  # every figure is a recorded one
    assert np.all(np.diff(curve) >= 0)
    # ASHA (grace 1, reduction 3, max_t 4) stops the poor cells early: the budget buys more
    # trials than full-length runs would allow, and the best cell is found within it.
    assert curve[-1] == pytest.approx(0.8)


def test_replay_without_early_stopping_spends_whole_trials(tmp_path: Path, ray_local: None
                                                           ) -> None:
    tiny_grid_table(tmp_path / "t.parquet")
    curve = replay_search(tmp_path / "t.parquet", Method("random", "none"), seed=1,
                          budget_fraction=1.0, time_scale=0.0, storage=tmp_path / "st")
    assert len(curve) == 9 * EPOCHS  # stopped by the budget after exactly the grid's cost


def test_replay_trainable_starts_without_torch_or_mlflow() -> None:
    # Every replayed trial starts a Tune actor that imports the trainable's module: keeping
    # torch and MLflow out of it is what lets 20 seeds x 3 methods replay in minutes.
    code = ("import sys, benchmarks.replay_table; "
            "print(sorted(m for m in ('torch', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]"
