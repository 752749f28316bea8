"""Leaderboard rows and table, the PNG writer, stop reasons and trial numbers (no Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prixfixe_blocks.training.fit import Best
from search.record.trials import STOPPED_BY, stop_reason
from search.report.leaderboard import format_table, leaderboard_rows, write_curves_png
from search.trial.trainable import trial_number


def record(index: int, best: float | None, status: str = "FINISHED") -> dict:
    history = [] if best is None else [
        {"epoch": 1, "val_pearson": best / 2, "best_val_pearson": best / 2},
        {"epoch": 2, "val_pearson": best, "best_val_pearson": best},
    ]
    return {"trial_id": f"id{index}", "index": index, "number": index,
            "mlflow_run_id": f"{index:032x}", "status": status, "epoch": len(history),
            "config": {"first": "bhi", "core": "autosome", "final": "autosome",
                       "strategy": "autosome"},
            "metrics": history[-1] if history else {}, "history": history}


def test_leaderboard_ranks_by_best_and_puts_trials_without_results_last() -> None:
    rows = leaderboard_rows({r["trial_id"]: r for r in (record(1, 0.2), record(2, None, "RUNNING"),
                                                         record(3, 0.5))})
    assert [r["trial"] for r in rows] == ["003", "001", "002"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    table = format_table(rows, limit=2)
    assert "003 id3      00000000 FINISHED" in table.splitlines()[1] and "... 1 more" in table
    assert rows[0]["mlflow_run_id"] == f"{3:032x}" and rows[0]["trial_id"] == "id3"


def test_trial_numbers_are_optunas_and_unknown_ones_show_as_such() -> None:
    unlinked = {**record(4, 0.1), "number": None}
    rows = leaderboard_rows({"id4": unlinked, "id2": record(2, 0.1)})
    assert [r["trial"] for r in rows] == ["002", "?"]  # a tie keeps the asking order


def test_curves_png_draws_one_colour_per_trial(tmp_path: Path) -> None:
    from matplotlib.image import imread

    records = {r["trial_id"]: r for r in (record(1, 0.2), record(2, 0.6, "STOPPED"))}
    write_curves_png(tmp_path / "c.png", records, size=(4, 3))
    pixels = imread(tmp_path / "c.png")[..., :3].reshape(-1, 3)
    assert pixels.shape[0] == 400 * 300
    saturated = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 0.5]
    hues = {tuple(np.round(p, 1)) for p in saturated}
    assert len(hues) >= 2  # two trial colours (matplotlib's first two cycle colours)
    assert not list(tmp_path.glob(".*.tmp"))


def test_stop_reason_names_what_stopped_the_trial() -> None:
    asha = {"epoch": 1, STOPPED_BY: "scheduler"}
    assert stop_reason({"epoch": 3, STOPPED_BY: "scheduler"}, 3) is None  # ran every epoch
    assert "stopped by ASHA at epoch 1 of 3" in stop_reason(asha, 3, time_budget=60.0,
                                                            elapsed=61.0)
    assert stop_reason(asha, 3, scheduler="fifo") == "stopped by the fifo scheduler at epoch 1 of 3"
    halted = stop_reason({"epoch": 1}, 3, time_budget=60.0, elapsed=61.0,
                         halted="the dataset changed")
    assert halted == "search halted at epoch 1 of 3: the dataset changed"
    budget = stop_reason({"epoch": 2}, 3, scheduler="none", time_budget=60.0, elapsed=61.0)
    assert budget == "time budget of 60s reached at epoch 2"
    none = stop_reason({"epoch": 2}, 3, scheduler="none", time_budget=60.0, elapsed=10.0)
    assert none is not None and "ASHA" not in none and "no stop decision" in none


def test_trial_numbers_and_best_bookkeeping() -> None:
    assert trial_number("12_core=bhi") == 12
    assert trial_number("train_trial_69f8c14b_3_core=unlockdna") == 3
    assert trial_number("") == -1
    best = Best()
    assert best.update(0.3, 1) and not best.update(float("nan"), 2)
    assert not best.update(0.1, 3) and (best.val_pearson, best.epoch) == (0.3, 1)
