"""`prixfixe-search demo`: simulate data, run a small local search, score the best model.

Everything goes under `--dir`: `data/` (simulated, with its `test_suite/`), `runs/` (the
experiment directory) and `mlflow.db`. A second demo in the same directory reuses the data and
starts a new search (`demo-2`, ...).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.schema import META_FILE, open_dataset, read_shard
from prixfixe_blocks.data.simulate import simulate
from prixfixe_blocks.training.export import load_predictor
from prixfixe_blocks.training.metrics import pearson
from search.experiment import SEARCH_FILE
from search.mlflow_utils import resolve_tracking_uri
from search.runner import SearchOptions, run_search

DEMO_FIXES = ["strategy.batch_size=128"]
# ~13k sequences per epoch: enough steps for tiny models to learn the simulated promoters
# (r ~0.2-0.3 on 30k rows) while slow combinations stay within the time budget.
DEMO_BATCHES_PER_EPOCH = 100
DEMO_TIME_BUDGET_S = 420.0
TEST_SUITE = "test_suite"


def ensure_data(data_dir: Path, rows: int, seed: int = 0) -> None:
    """Simulate `rows` training rows (and the test suite) unless the dataset exists."""
    if (data_dir / META_FILE).is_file():
        print(f"using the simulated data in {data_dir}")
        return
    result = simulate(data_dir, rows, seed=seed)
    print(f"simulated {result['rows']:,} rows into {data_dir} in {result['seconds']:.1f} s")


def next_name(runs: Path, base: str = "demo") -> str:
    """`demo`, or `demo-2`, `demo-3`, ... when earlier demos exist in `runs`."""
    name, n = base, 1
    while (runs / name / SEARCH_FILE).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def score_test_suite(model_dir: Path, suite_dir: Path) -> dict[str, float]:
    """Pearson r of the model's predictions vs the simulator's true expression, per subset."""
    if not (suite_dir / META_FILE).is_file():
        return {}
    tables = [read_shard(p, columns=["sequence", "true_expression", "subset"])
              for p in open_dataset(suite_dir).shard_paths(suite_dir)]
    if not tables:
        return {}
    table = pa.concat_tables(tables)
    pred = load_predictor(model_dir, device="cpu").predict(table.column("sequence"))[:, 0]
    truth = table.column("true_expression").to_numpy()
    subsets = np.asarray(table.column("subset").to_pylist())
    scores = {"all": pearson(pred, truth)}
    for name in sorted(set(subsets.tolist())):
        mask = subsets == name
        scores[name] = pearson(pred[mask], truth[mask])
    return scores


def run_demo(directory: Path, rows: int, trials: int, epochs: int) -> dict[str, Any]:
    """The whole demo; returns the search summary plus the test-suite scores."""
    directory = directory.resolve()
    data_dir = directory / "data"
    ensure_data(data_dir, rows)
    runs = directory / "runs"
    opts = SearchOptions(
        data=str(data_dir), name=next_name(runs), space="prixfixe", trials=trials,
        epochs=epochs, storage=str(runs), tracking_uri=resolve_tracking_uri(None, directory),
        width="tiny", fix=list(DEMO_FIXES), batches_per_epoch=DEMO_BATCHES_PER_EPOCH,
        num_cpus=os.cpu_count(), cpus_per_trial=1.0, time_budget=DEMO_TIME_BUDGET_S,
    )
    summary = run_search(opts)
    scores: dict[str, float] = {}
    if summary.get("best_model"):
        scores = score_test_suite(Path(summary["best_model"]), data_dir / TEST_SUITE)
    summary["test_scores"] = scores
    return summary


def cli_demo(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search demo`."""
    summary = run_demo(Path(args.dir), args.rows, args.trials, args.epochs)
    scores = summary["test_scores"]
    if scores:
        detail = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if k != "all")
        print(f"\nbest model on the simulated test suite: Pearson r vs the simulator's truth "
              f"{scores['all']:.3f} ({detail})")
    print(summary["mlflow_ui"])
    return 0 if summary.get("best") else 1
