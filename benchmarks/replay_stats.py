"""Figures of replayed searches and their uncertainty over paired seeds.

Per replay: trial-epochs until the best validation r so far reaches 99% of the grid's best,
and until it reaches the third-best cell's best (a value only a top-3 cell reaches); and at
10%, 20% and 50% of the grid's trial-epochs, the best so far as a fraction of the grid's best,
the regret (grid best minus best so far, in r) and the test r of the configuration the
search would pick then. Over seeds: medians with 95% percentile-bootstrap intervals, and
paired differences between methods (mean over seeds of method minus reference, same seed)
with their interval. Bootstraps use a fixed generator so that the JSON is reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap

from benchmarks.replay import Replay
from benchmarks.replay_table import Curves

FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.5)
TARGET = 0.99  # "reached 99%" = best-so-far >= TARGET x the grid's best
TOP = 3  # "reached a top-3 cell" = best-so-far >= the TOP-th best cell's best
CONFIDENCE = 0.95
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
REACH_FIGURES = ("epochs_to_99pct", "epochs_to_top3")
CURVE_POINTS = 40  # regret-curve points (per method) with a bootstrap band


def pct(fraction: float) -> str:
    """`0.2` -> `20pct` (figure-name suffix)."""
    return f"{round(fraction * 100)}pct"


def grid_facts(curves: Curves) -> dict[str, float]:
    """The grid's best validation r, the TOP-th best cell's best, and the test r of the
    grid's own pick (the cell and epoch with the best validation r) and of the best test r."""
    cell_best = sorted((max(v) for v in curves.values.values()), reverse=True)
    key, epoch = max(((k, e) for k, v in curves.values.items() for e in range(len(v))),
                     key=lambda ke: curves.values[ke[0]][ke[1]])
    tests = [t for v in curves.tests.values() for t in v if math.isfinite(t)]
    return {"best": cell_best[0], f"top{TOP}_best": cell_best[TOP - 1],
            "pick_test": curves.tests[key][epoch], "best_test": max(tests, default=math.nan),
            "trial_epochs": curves.grid_trial_epochs}


def first_reach(curve: np.ndarray, threshold: float) -> float:
    """1-based trial-epoch at which `curve` first reaches `threshold` (inf if never)."""
    hit = np.nonzero(curve >= threshold)[0]
    return float(hit[0] + 1) if hit.size else math.inf


def figures(replay: Replay, grid: dict[str, float]) -> dict[str, float]:
    """One replay's figures (module docstring); a search that ended before a fraction's
    trial-epochs is judged by where it ended."""
    best = replay.best_so_far
    out = {"epochs_to_99pct": first_reach(best, TARGET * grid["best"]),
           "epochs_to_top3": first_reach(best, grid[f"top{TOP}_best"])}
    for fraction in FRACTIONS:
        index = min(int(fraction * grid["trial_epochs"]), best.size) - 1
        out[f"best_at_{pct(fraction)}"] = float(best[index]) / grid["best"]
        out[f"regret_at_{pct(fraction)}"] = grid["best"] - float(best[index])
        out[f"test_at_{pct(fraction)}"] = float(replay.pick_test[index])
    return out


def interval(values: np.ndarray, statistic: Callable[..., Any]) -> tuple[float, float]:
    """95% percentile-bootstrap interval of `statistic` over seeds (a point when constant)."""
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)  # few distinct values
        result = bootstrap((values,), statistic, confidence_level=CONFIDENCE,
                           n_resamples=RESAMPLES, method="percentile",
                           random_state=np.random.default_rng(BOOTSTRAP_SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def censored(values: Sequence[float], budget: int) -> np.ndarray:
    """Trial-epoch counts with 'never within the budget' (inf) as budget + 1."""
    return np.asarray([v if math.isfinite(v) else budget + 1 for v in values], dtype=float)


def summarise(per_seed: dict[str, list[dict[str, float]]], budget: int,
              reference: str) -> dict[str, Any]:
    """Per method and figure: median [95% interval] over seeds (reach figures: censored at
    the budget, with how many seeds reached); per other method, paired differences against
    `reference` (mean of method minus reference over seeds, [95% interval], seeds better /
    worse: fewer trial-epochs, or a higher r / lower regret)."""
    out: dict[str, Any] = {"methods": {}, "paired": {}}
    for name, rows in per_seed.items():
        out["methods"][name] = {}
        for figure in rows[0]:
            values = column(rows, figure, budget)
            low, high = interval(values, np.median)
            entry = {"median": float(np.median(values)), "low": low, "high": high}
            if figure in REACH_FIGURES:
                entry["reached"] = int(sum(math.isfinite(r[figure]) for r in rows))
            out["methods"][name][figure] = entry
    for name, rows in per_seed.items():
        if name == reference or reference not in per_seed:
            continue
        out["paired"][name] = {}
        for figure in rows[0]:
            diff = column(rows, figure, budget) - column(per_seed[reference], figure, budget)
            low, high = interval(diff, np.mean)
            sign = -1 if figure in REACH_FIGURES or figure.startswith("regret") else 1
            out["paired"][name][figure] = {
                "mean_diff": float(np.mean(diff)), "low": low, "high": high,
                "better": int(np.sum(sign * diff > 0)), "worse": int(np.sum(sign * diff < 0))}
    return out


def column(rows: list[dict[str, float]], figure: str, budget: int) -> np.ndarray:
    """One figure over seeds (reach figures censored at the budget)."""
    values = [r[figure] for r in rows]
    return censored(values, budget) if figure in REACH_FIGURES else np.asarray(values)


def regret_curves(replays: dict[str, list[Replay]], grid: dict[str, float],
                  budget: int) -> dict[str, dict[str, list[float]]]:
    """Per method: median regret (grid best minus best so far) over seeds at CURVE_POINTS
    trial-epoch counts up to the budget, with a 95% bootstrap band of the median."""
    points = np.unique(np.linspace(1, budget, CURVE_POINTS).astype(int))
    out = {}
    for name, runs in replays.items():
        stack = np.asarray([[grid["best"] - r.best_so_far[min(p, r.values.size) - 1]
                             for p in points] for r in runs])
        bands = [interval(stack[:, i], np.median) for i in range(points.size)]
        out[name] = {"trial_epochs": points.tolist(),
                     "median": np.median(stack, axis=0).tolist(),
                     "low": [b[0] for b in bands], "high": [b[1] for b in bands]}
    return out
