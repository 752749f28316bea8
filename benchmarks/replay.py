"""Tabular search benchmark: recorded learning curves replayed through the real search objects.

Like NAS-Bench / HPOBench, every configuration of a grid is trained once (`grid_record.py`)
and its per-epoch validation r, test r, epoch seconds and parameter count are stored in a
Parquet table. A replayed search drives `prixfixe-search run`'s own searcher
(DurableOptunaSearch with `make_sampler`'s sampler, its study in memory) and scheduler
(`make_scheduler`: ASHA or FIFO) from a discrete-event loop on a virtual clock: `concurrency`
virtual workers each run one trial, each epoch ends at its recorded time, and events are
handled in (virtual time, trial id) order, calling the scheduler and searcher as Tune's
controller does. No Ray, no sleeps: the same table, method and seed give the same replay.
Cost is counted in trial-epochs (one reported epoch of one trial).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from benchmarks.replay_table import Curves, config_key, read_table
from prixfixe_blocks.training.metrics import BEST_METRIC
from search.run.tuner import make_sampler, make_scheduler
from search.study.objectives import REPEAT_ATTR
from search.study.repeats import NEIGHBOUR, REPEATS_BEFORE_FALLBACK
from search.study.searcher import ASHA_REDUCTION, DurableOptunaSearch
from search.trial.trainable import METRIC, MODE
from spaces import grid_space, load_space, parse_fixes

REPLAY_CONCURRENCY = 4  # trials at a time in a replayed (and the live) search
TOLD = "told"  # repeat handling before issue 20 (besides repeats.py's NEIGHBOUR and RANDOM)


@dataclass(frozen=True)
class Method:
    """A search method to replay: `run`'s --sampler and --scheduler, and (for choosing
    defaults) ASHA's first rung and reduction factor, TPE settings and the repeat handling."""

    sampler: str
    scheduler: str
    grace_period: int | None = None  # ASHA's first rung; None: `run`'s default (after warm-up)
    reduction_factor: int = ASHA_REDUCTION
    tpe: tuple[tuple[str, Any], ...] = ()  # overrides of TPE_SETTINGS
    repeats: str = NEIGHBOUR  # the fallback after repeats; TOLD: repeats told the earlier outcome
    fallback_after: int | None = None  # repeats in a row before the fallback (None: run's)

    @property
    def name(self) -> str:
        """Display name, e.g. `tpe+asha`, `random+asha-g1` or `tpe+asha-n_startup_trials=5`."""
        stop = "" if self.scheduler == "none" else f"+{self.scheduler}"
        grace = "" if self.grace_period is None else f"-g{self.grace_period}"
        rf = "" if self.reduction_factor == ASHA_REDUCTION else f"-rf{self.reduction_factor}"
        tpe = "".join(f"-{k}={v}" for k, v in self.tpe)
        if self.repeats == TOLD:
            repeats = "-toldrepeats"
        elif self.repeats != NEIGHBOUR or self.fallback_after is not None:
            after = self.fallback_after or REPEATS_BEFORE_FALLBACK
            repeats = f"-{self.repeats}after{after}"
        else:
            repeats = ""
        return f"{self.sampler}{stop}{grace}{rf}{tpe}{repeats}"


METHODS: tuple[Method, ...] = (Method("tpe", "asha"), Method("random", "asha"),
                               Method("random", "none"))


class ToldRepeatsSearch(DurableOptunaSearch):
    """The repeat handling before issue 20, for the benchmark only: a proposal equal to an
    ended trial (not a running one) is told that trial's outcome (a copied observation)."""

    def _repeat(self, trial_id: str) -> FrozenTrial | None:
        trial = self._ot_trials[trial_id]
        done = self._ot_study.get_trials(deepcopy=False,
                                         states=(TrialState.COMPLETE, TrialState.PRUNED))
        earlier = next((t for t in done if t.params == trial.params), None)
        if earlier is None:
            return None
        self._ot_trials.pop(trial_id)
        trial.set_user_attr(REPEAT_ATTR, earlier.number)
        for step, value in earlier.intermediate_values.items():
            trial.report(value, step)
        if earlier.state == TrialState.COMPLETE:
            self._ot_study.tell(trial, earlier.values)
        else:
            self._ot_study.tell(trial, state=TrialState.PRUNED)
        return earlier

    def _ask_again(self, trial_id: str, repeated: FrozenTrial, repeats: int) -> dict | str | None:
        return OptunaSearch.suggest(self, trial_id)  # the search's sampler, always


@dataclass
class StubTrial:
    """What Ray's ASHA reads of a trial: its id and last result."""

    trial_id: str
    key: str
    epoch: int = 0
    last_result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Replay:
    """One replayed search, per trial-epoch in event order: the validation r reported and
    the test r of the configuration the search would pick then (best validation r so far,
    at that epoch: the checkpoint `run` exports); and how many trials it started."""

    values: np.ndarray
    pick_test: np.ndarray
    trials: int

    @property
    def best_so_far(self) -> np.ndarray:
        """Best validation r after each trial-epoch."""
        return np.maximum.accumulate(self.values) if self.values.size else self.values


def load_curves(table: Path | Curves) -> Curves:
    """The curve table (read from `table` unless already read)."""
    return table if isinstance(table, Curves) else read_table(Path(table))


def build_search(curves: Curves, method: Method, seed: int) -> tuple[Any, Any, tuple[str, ...]]:
    """(searcher, scheduler, grid dimensions) as `run` builds them for the table's space."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(curves.metadata.get("space", "prixfixe-grid"),
                       width=curves.metadata.get("width", "tiny"),
                       fixed=parse_fixes(json.loads(curves.metadata.get("fix", "[]"))))
    points = space.points() if method.sampler != "grid" else []
    kind = ToldRepeatsSearch if method.repeats == TOLD else DurableOptunaSearch
    searcher = kind(space=space, metric=METRIC, mode=MODE, epochs=curves.epochs, seed=seed,
                    sampler=make_sampler(method.sampler, seed, space, dict(method.tpe)),
                    points_to_evaluate=points or None)
    if method.repeats != TOLD:
        searcher.fallback = method.repeats
    if method.fallback_after is not None:
        searcher.repeats_before_fallback = method.fallback_after
    scheduler = make_scheduler(method.scheduler, curves.epochs, method.grace_period,
                               reduction_factor=method.reduction_factor)
    scheduler.set_search_properties(METRIC, MODE)
    return searcher, scheduler, tuple(grid_space(space))


def replay_search(table: Path | Curves, method: Method, seed: int, *,
                  budget_fraction: float = 0.5,
                  concurrency: int = REPLAY_CONCURRENCY) -> Replay:
    """Replay one search until it has spent `budget_fraction` of the grid's trial-epochs (or
    its searcher finishes); deterministic for a given table, method and seed."""
    curves = load_curves(table)
    np.random.seed(seed)  # ASHA draws its bracket from NumPy's global generator
    searcher, scheduler, dims = build_search(curves, method, seed)
    budget = max(1, int(budget_fraction * curves.grid_trial_epochs))
    events: list[tuple[float, str, int]] = []  # (virtual end time, trial id, epoch)
    trials: dict[str, StubTrial] = {}
    values: list[float] = []
    picks: list[float] = []
    best, pick, finished = -math.inf, math.nan, False

    def start(now: float) -> None:
        nonlocal finished
        while not finished and sum(1 for t in trials.values() if t.epoch >= 0) < concurrency:
            trial_id = f"{len(trials):05d}"
            config = searcher.suggest(trial_id)
            if not isinstance(config, dict) or config is Searcher.FINISHED:
                finished = True
                return
            trial = trials[trial_id] = StubTrial(trial_id, config_key(config, dims))
            scheduler.on_trial_add(None, trial)
            heapq.heappush(events, (now + curves.seconds[trial.key][0], trial_id, 1))

    start(0.0)
    while events and len(values) < budget:
        now, trial_id, epoch = heapq.heappop(events)
        trial = trials[trial_id]
        value = curves.values[trial.key][epoch - 1]
        trial.last_result = {"epoch": epoch, "val_pearson": value,
                             BEST_METRIC: max(value, trial.last_result.get(BEST_METRIC, value)),
                             "trial_id": trial_id, "done": epoch == curves.epochs}
        values.append(value)
        if value > best:
            best, pick = value, curves.tests[trial.key][epoch - 1]
        picks.append(pick)
        if trial.last_result["done"]:
            decision = TrialScheduler.STOP
        else:
            decision = scheduler.on_trial_result(None, trial, trial.last_result)
        if decision == TrialScheduler.STOP:
            scheduler.on_trial_complete(None, trial, trial.last_result)
            searcher.on_trial_complete(trial_id, trial.last_result)
            trial.epoch = -1  # the worker is free
            start(now)
        else:
            searcher.on_trial_result(trial_id, trial.last_result)
            trial.epoch = epoch
            heapq.heappush(events, (now + curves.seconds[trial.key][epoch], trial_id, epoch + 1))
    return Replay(np.asarray(values, dtype=float), np.asarray(picks, dtype=float), len(trials))


def replay_many(table: Path | Curves, methods: Sequence[Method], seeds: int, *,
                budget_fraction: float = 0.5) -> dict[str, list[Replay]]:
    """Every method replayed with seeds 0..seeds-1 (paired: seed s of each method)."""
    curves = load_curves(table)
    return {m.name: [replay_search(curves, m, s, budget_fraction=budget_fraction)
                     for s in range(seeds)] for m in methods}
