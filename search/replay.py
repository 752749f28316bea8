"""Tabular search benchmark: recorded learning curves replayed through the real search stack.

Like NAS-Bench / HPOBench, every configuration of a grid is trained once (`record`) and its
per-epoch validation curve, epoch times and parameter count are stored in a Parquet table. A
replayed search runs the same OptunaSearch sampler and Tune scheduler as `prixfixe-search run`
against a trainable that reads the curve instead of training, so search methods can be compared
over many seeds in minutes. Cost is counted in trial-epochs (one reported epoch of one trial).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from prixfixe_blocks.atomic import atomic_write
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.training.fit import BEST_METRIC
from search.runner import make_sampler, make_scheduler
from search.trainable import METRIC, MODE
from spaces import grid_space, load_space, parse_fixes

TABLE_SCHEMA = pa.schema([
    ("key", pa.string()),          # canonical JSON of the grid choices (one per configuration)
    ("config", pa.string()),       # the full trial config, JSON
    ("epoch", pa.int32()),         # 1-based
    ("val_pearson", pa.float64()),
    ("seconds", pa.float64()),     # wall time of that epoch when recorded
    ("n_parameters", pa.int64()),
])
FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.5)
TARGET = 0.99  # "reached" = best-so-far >= TARGET x the grid's best


def config_key(config: dict[str, Any], dims: Sequence[str]) -> str:
    """The grid cell of a config: its values of the grid's dimensions as canonical JSON."""
    return json.dumps({d: config[d] for d in sorted(dims)}, sort_keys=True)


def write_table(rows: list[dict[str, Any]], path: Path, metadata: dict[str, str]) -> None:
    """Write curve rows (TABLE_SCHEMA columns) with `metadata` (how they were made), atomically."""
    table = pa.Table.from_pylist(rows, schema=TABLE_SCHEMA)
    table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in metadata.items()})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


@dataclass(frozen=True)
class Curves:
    """A recorded grid: per configuration key, its epoch values, epoch seconds, parameters."""

    values: dict[str, tuple[float, ...]]
    seconds: dict[str, tuple[float, ...]]
    params: dict[str, int]
    metadata: dict[str, str]

    @property
    def epochs(self) -> int:
        """Epochs per configuration (every curve has the same length)."""
        return len(next(iter(self.values.values())))

    @property
    def grid_trial_epochs(self) -> int:
        """What running the whole grid costs, in trial-epochs."""
        return len(self.values) * self.epochs

    @property
    def best(self) -> float:
        """The grid's best validation r (best epoch of the best configuration)."""
        return max(max(v) for v in self.values.values())


def read_table(path: Path) -> Curves:
    """Load a curve table; DataError naming the file and field when it is not one."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise DataError(f"{path}: not a readable Parquet curve table ({err})") from err
    missing = [f.name for f in TABLE_SCHEMA if f.name not in table.column_names]
    if missing:
        raise DataError(f"{path}: curve table lacks column(s) {', '.join(missing)}")
    rows = sorted(table.select([f.name for f in TABLE_SCHEMA]).to_pylist(),
                  key=lambda r: (r["key"], r["epoch"]))
    values: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    params: dict[str, int] = {}
    for index, row in enumerate(rows):
        key = row["key"]
        if row["epoch"] != len(values.get(key, [])) + 1:
            raise DataError(f"{path}: row {index + 1}: field 'epoch' is {row['epoch']} for {key},"
                            f" expected {len(values.get(key, [])) + 1} (curves must be complete)")
        value = row["val_pearson"]
        values.setdefault(key, []).append(value if math.isfinite(value) else 0.0)
        seconds.setdefault(key, []).append(float(row["seconds"]))
        params[key] = int(row["n_parameters"])
    if not values or len({len(v) for v in values.values()}) != 1:
        raise DataError(f"{path}: curve table is empty or its curves differ in length")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return Curves({k: tuple(v) for k, v in values.items()},
                  {k: tuple(v) for k, v in seconds.items()}, params, meta)


@dataclass(frozen=True)
class ReplaySettings:
    """What the replay trainable needs: the table, the grid's dimensions, a time scale."""

    table: str
    dims: tuple[str, ...]
    time_scale: float = 0.0  # seconds slept per recorded second (keeps completion order)


def replay_trial(config: dict[str, Any], settings: ReplaySettings) -> None:
    """A Tune trainable that reports a recorded curve epoch by epoch instead of training."""
    curves = _cached(settings.table)
    key = config_key(config, settings.dims)
    if key not in curves.values:
        raise DataError(f"{settings.table}: no recorded curve for configuration {key}")
    best = -math.inf
    for epoch, (value, secs) in enumerate(zip(curves.values[key], curves.seconds[key],
                                              strict=True), start=1):
        if settings.time_scale:
            time.sleep(secs * settings.time_scale)
        best = max(best, value)
        tune.report({"epoch": epoch, "val_pearson": value, BEST_METRIC: best,
                     "n_parameters": curves.params[key], "wall": time.time()})


_CACHE: dict[str, Curves] = {}


def _cached(path: str) -> Curves:
    """The table, read once per worker process."""
    if path not in _CACHE:
        _CACHE[path] = read_table(Path(path))
    return _CACHE[path]


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
    """A search method to replay: `run`'s --sampler and --scheduler, presets enqueued or not."""

    sampler: str
    scheduler: str
    enqueue_presets: bool = True
    grace_period: int | None = None  # ASHA's first rung; None: `run`'s default (after warm-up)

    @property
    def name(self) -> str:
        """Display name, e.g. `tpe+asha` or `random+asha-g1`."""
        stop = "" if self.scheduler == "none" else f"+{self.scheduler}"
        grace = "" if self.grace_period is None else f"-g{self.grace_period}"
        return f"{self.sampler}{stop}{grace}{'' if self.enqueue_presets else '-nopresets'}"


METHODS: tuple[Method, ...] = (Method("tpe", "asha"), Method("random", "asha"),
                               Method("random", "none"))


def replay_search(table: Path, method: Method, seed: int, *, budget_fraction: float = 0.5,
                  concurrency: int = 4, time_scale: float = 0.01,
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
    searcher = OptunaSearch(space=space, metric=METRIC, mode=MODE,
                            sampler=make_sampler(method.sampler, seed, space),
                            points_to_evaluate=points or None, seed=seed)
    budget = max(1, int(budget_fraction * curves.grid_trial_epochs))
    settings = ReplaySettings(str(Path(table).resolve()), dims, time_scale)
    trainable = tune.with_resources(tune.with_parameters(replay_trial, settings=settings),
                                    {"cpu": 1.0 / concurrency})
    stopper = BudgetStopper(budget)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, search_alg=searcher,
                                    scheduler=make_scheduler(method.scheduler, curves.epochs,
                                                             method.grace_period),
                                    num_samples=curves.grid_trial_epochs,
                                    max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(name=f"replay-{method.name}-{seed}", verbose=0,
                                  storage_path=str(storage) if storage else None,
                                  stop=stopper),
    )
    tuner.fit()
    return best_so_far(stopper.events)[:budget]
