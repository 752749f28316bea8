"""Tabular search benchmark: recorded learning curves replayed through the real search stack.

Like NAS-Bench / HPOBench, every configuration of a grid is trained once (`record`) and its
per-epoch validation curve, epoch times and parameter count are stored in a Parquet table. A
replayed search runs `prixfixe-search run`'s own searcher (DurableOptunaSearch, its study in
memory: repeats of an ended configuration are not trained again) and scheduler against a
trainable that reads the curve instead of training, so search methods can be compared
over many seeds in minutes. Cost is counted in trial-epochs (one reported epoch of one trial).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune

from benchmarks.replay_table import ReplaySettings, ReplayTrial, read_table
from search.run.tuner import make_sampler, make_scheduler
from search.study.searcher import ASHA_REDUCTION, DurableOptunaSearch
from search.trial.trainable import METRIC, MODE
from spaces import grid_space, load_space, parse_fixes

FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.5)
TARGET = 0.99  # "reached" = best-so-far >= TARGET x the grid's best
REPLAY_CONCURRENCY = 4  # trials at a time in a replayed (and the live) search


class BudgetStopper(tune.stopper.Stopper):
    """Records every reported (wall time, validation r) and stops the whole replayed search
    once it has spent `budget` trial-epochs (Tune calls it in the driver for each result)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.events: list[tuple[float, float]] = []

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.events.append((float(result["wall"]), float(result["val_pearson"])))
        return False

    def stop_all(self) -> bool:
        return len(self.events) >= self.budget


def best_so_far(events: list[tuple[float, float]]) -> np.ndarray:
    """Best validation r after each trial-epoch, from (wall time, val r) events in any order."""
    ordered = [value for _, value in sorted(events)]
    return np.maximum.accumulate(np.asarray(ordered, dtype=float)) if ordered else np.zeros(0)


def efficiency(curve: np.ndarray, grid_best: float, grid_trial_epochs: int,
               fractions: Sequence[float] = FRACTIONS) -> dict[str, float]:
    """Trial-epochs to reach TARGET x grid best (inf if never), and best/grid-best at fractions
    of the grid's trial-epochs (the last value seen when the search ended sooner)."""
    reached = np.nonzero(curve >= TARGET * grid_best)[0]
    out = {"epochs_to_target": float(reached[0] + 1) if reached.size else math.inf}
    for fraction in fractions:
        index = min(int(fraction * grid_trial_epochs), curve.size) - 1
        out[f"best_at_{int(fraction * 100)}pct"] = (
            float(curve[index]) / grid_best if index >= 0 else 0.0)
    return out


@dataclass(frozen=True)
class Method:
    """A search method to replay: `run`'s --sampler and --scheduler, presets enqueued or not,
    and (for choosing defaults) ASHA's first rung and reduction factor and TPE settings."""

    sampler: str
    scheduler: str
    enqueue_presets: bool = True
    grace_period: int | None = None  # ASHA's first rung; None: `run`'s default (after warm-up)
    reduction_factor: int = ASHA_REDUCTION
    tpe: tuple[tuple[str, Any], ...] = ()  # overrides of TPE_SETTINGS

    @property
    def name(self) -> str:
        """Display name, e.g. `tpe+asha`, `random+asha-g1` or `tpe+asha-n_startup_trials=5`."""
        stop = "" if self.scheduler == "none" else f"+{self.scheduler}"
        grace = "" if self.grace_period is None else f"-g{self.grace_period}"
        rf = "" if self.reduction_factor == ASHA_REDUCTION else f"-rf{self.reduction_factor}"
        tpe = "".join(f"-{k}={v}" for k, v in self.tpe)
        return (f"{self.sampler}{stop}{grace}{rf}{tpe}"
                f"{'' if self.enqueue_presets else '-nopresets'}")


METHODS: tuple[Method, ...] = (Method("tpe", "asha"), Method("random", "asha"),
                               Method("random", "none"))


def replay_search(table: Path, method: Method, seed: int, *, budget_fraction: float = 0.5,
                  concurrency: int = REPLAY_CONCURRENCY, time_scale: float = 0.01,
                  storage: Path | None = None) -> np.ndarray:
    """Best-so-far validation r after each trial-epoch of one replayed search (Ray must be up).

    The sampler and scheduler are `run`'s own (`make_sampler`, `make_scheduler`); the search
    stops once it has spent `budget_fraction` of the grid's trial-epochs.
    """
    curves = read_table(table)
    space = load_space(curves.metadata.get("space", "prixfixe-grid"),
                       width=curves.metadata.get("width", "tiny"),
                       fixed=parse_fixes(json.loads(curves.metadata.get("fix", "[]"))))
    dims = tuple(grid_space(space))
    points = space.points() if method.enqueue_presets and method.sampler != "grid" else []
    searcher = DurableOptunaSearch(space=space, metric=METRIC, mode=MODE, epochs=curves.epochs,
                                   sampler=make_sampler(method.sampler, seed, space,
                                                        dict(method.tpe)),
                                   points_to_evaluate=points or None)
    budget = max(1, int(budget_fraction * curves.grid_trial_epochs))
    settings = ReplaySettings(str(Path(table).resolve()), dims, time_scale)
    trainable = tune.with_resources(tune.with_parameters(ReplayTrial, settings=settings),
                                    {"cpu": 1.0 / concurrency})
    stopper = BudgetStopper(budget)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, search_alg=searcher,
                                    scheduler=make_scheduler(
                                        method.scheduler, curves.epochs, method.grace_period,
                                        reduction_factor=method.reduction_factor),
                                    num_samples=curves.grid_trial_epochs,
                                    max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(name=f"replay-{method.name}-{seed}", verbose=0,
                                  storage_path=str(storage) if storage else None,
                                  stop=stopper),
    )
    tuner.fit()
    return best_so_far(stopper.events)[:budget]
