"""The tabular search benchmark's parts: the curve table, the virtual-clock replay (the same
table, method and seed give the same figures), the figures and their intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.replay import METHODS, TOLD, Method, Replay, replay_search
from benchmarks.replay_markdown import markdown
from benchmarks.replay_stats import figures, first_reach, grid_facts, summarise
from benchmarks.replay_table import config_key, read_table, write_table
from benchmarks.search_efficiency import replay_report
from prixfixe_blocks.errors import DataError
from search.study.repeats import RANDOM
from spaces import grid_size, grid_space, load_space, parse_fixes, sample_configs

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
                  "val_pearson": curves[key][e - 1], "test_pearson": curves[key][e - 1] - 0.05,
                  "seconds": 1.0 + 0.1 * (index % 3), "n_parameters": 100 + index}
                 for e in range(1, EPOCHS + 1)]
    write_table(rows, path, {"space": "prixfixe-grid", "width": "tiny", "fix": json.dumps(FIX)})
    return curves


def test_table_round_trip_keeps_curves_and_how_it_was_made(tmp_path: Path) -> None:
    curves = tiny_grid_table(tmp_path / "t.parquet")
    table = read_table(tmp_path / "t.parquet")
    assert table.values == {k: tuple(v) for k, v in curves.items()}
    assert table.tests == {k: pytest.approx(tuple(x - 0.05 for x in v)) for k, v in curves.items()}
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


def test_figures_by_hand() -> None:
    replay = Replay(np.asarray([0.2, 0.1, 0.5, 0.99, 0.3]), np.asarray([0.1, 0.1, 0.4, 0.9, 0.9]),
                    trials=3)
    grid = {"best": 1.0, "top3_best": 0.5, "trial_epochs": 10}
    found = figures(replay, grid)
    assert replay.best_so_far.tolist() == [0.2, 0.2, 0.5, 0.99, 0.99]
    assert found["epochs_to_99pct"] == 4.0 and found["epochs_to_top3"] == 3.0
    assert found["best_at_10pct"] == 0.2 and found["regret_at_20pct"] == pytest.approx(0.8)
    assert found["test_at_20pct"] == 0.1
    assert found["best_at_50pct"] == 0.99 and found["test_at_50pct"] == 0.9  # ended sooner
    assert math.isinf(first_reach(replay.best_so_far, 1.0))


def test_grid_facts_pick_by_validation_and_judge_on_test(tmp_path: Path) -> None:
    curves = tiny_grid_table(tmp_path / "t.parquet")
    grid = grid_facts(read_table(tmp_path / "t.parquet"))
    assert grid["best"] == pytest.approx(0.8) and grid["pick_test"] == pytest.approx(0.75)
    assert grid["top3_best"] == pytest.approx(sorted(max(v) for v in curves.values())[-3])


def test_intervals_and_paired_differences() -> None:
    rows = {"a": [{"best_at_20pct": 0.5 + 0.01 * s, "epochs_to_99pct": math.inf}
                  for s in range(20)],
            "b": [{"best_at_20pct": 0.6 + 0.01 * s, "epochs_to_99pct": 10.0} for s in range(20)]}
    out = summarise(rows, budget=30, reference="a")
    a = out["methods"]["a"]["best_at_20pct"]
    assert a["low"] <= a["median"] <= a["high"] and a["low"] < a["high"]
    assert out["methods"]["a"]["epochs_to_99pct"]["median"] == 31  # never: budget + 1
    assert out["methods"]["a"]["epochs_to_99pct"]["reached"] == 0
    diff = out["paired"]["b"]["best_at_20pct"]
    assert diff["mean_diff"] == pytest.approx(0.1) and diff["better"] == 20
    assert out["paired"]["b"]["epochs_to_99pct"]["better"] == 20  # fewer trial-epochs
    assert "a" not in out["paired"]


def test_replay_drives_the_search_objects_over_recorded_curves(tmp_path: Path) -> None:
    curves = tiny_grid_table(tmp_path / "t.parquet")
    values = {v for c in curves.values() for v in c}
    budget = 0.75
    replay = replay_search(tmp_path / "t.parquet", Method("random", "asha", grace_period=1),
                           seed=0, budget_fraction=budget)
    assert 0 < replay.values.size <= int(budget * 9 * EPOCHS)
    assert set(replay.values.tolist()) <= values  # every figure is a recorded one
    # ASHA (grace 1, reduction 3, max_t 4) stops the poor cells early: the budget buys more
    # trials than full-length runs would (27 trial-epochs: 6.75 trials), and finds the best.
    assert replay.trials > 7
    assert replay.best_so_far[-1] == pytest.approx(0.8)
    assert replay.pick_test[-1] == pytest.approx(0.75)


def test_replay_without_early_stopping_spends_whole_trials(tmp_path: Path) -> None:
    tiny_grid_table(tmp_path / "t.parquet")
    replay = replay_search(tmp_path / "t.parquet", Method("random", "none"), seed=1,
                           budget_fraction=1.0)
    assert replay.values.size == 9 * EPOCHS and replay.trials == 9  # each cell once, whole


@pytest.mark.parametrize("method", [
    Method("tpe", "asha", grace_period=1),
    Method("tpe", "asha", grace_period=1, repeats=TOLD),
    Method("tpe", "asha", grace_period=1, repeats=RANDOM, fallback_after=3)])
def test_the_same_table_method_and_seed_give_identical_json(tmp_path: Path,
                                                            method: Method) -> None:
    tiny_grid_table(tmp_path / "t.parquet")
    first = replay_report(tmp_path / "t.parquet", [method], seeds=3, budget_fraction=1.0)
    again = replay_report(tmp_path / "t.parquet", [method], seeds=3, budget_fraction=1.0)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    other = replay_report(tmp_path / "t.parquet", [method], seeds=4, budget_fraction=1.0)
    assert other["per_seed"][method.name][:3] == first["per_seed"][method.name]
    assert len({json.dumps(r) for r in other["per_seed"][method.name]}) > 1, \
        "seeds must make different searches"


def test_markdown_prints_the_replayed_figures_and_the_test_comparison(tmp_path: Path) -> None:
    """README's tables come from the JSON: every method, its figures, the grid's test pick."""
    tiny_grid_table(tmp_path / "t.parquet")
    methods = [m for m in METHODS if m.name in ("tpe+asha", "random+asha")]
    report = json.loads(json.dumps(replay_report(tmp_path / "t.parquet", methods, seeds=3,
                                                 budget_fraction=1.0)))
    text = markdown(report)
    assert "grid best validation r 0.8000" in text
    assert f"has test r {0.8 - 0.05:.4f}" in text  # the grid's pick, judged on test rows
    reach = report["methods"]["random+asha"]["epochs_to_99pct"]
    assert f"| random+asha | {reach['reached']} of 3 | {reach['median']:.0f} [" in text
    assert "| paired against tpe+asha: method |" in text and "| tpe+asha | " in text
    test = report["methods"]["tpe+asha"]["test_at_50pct"]
    assert f"{test['median']:.3f} [{test['low']:.3f}, {test['high']:.3f}] | (reference) |" in text
    report["grid"]["pick_test"] = math.nan  # a table recorded before the test column
    assert "no test-split column" in markdown(report)
