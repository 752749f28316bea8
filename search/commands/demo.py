"""`prixfixe-search demo`: simulate data, run a small local search, score the best model.

Everything goes under `--dir`: `data/` (simulated, with its `test_suite/`), `runs/` (the
experiment directory) and `mlflow.db`. A second demo in the same directory reuses the data and
starts a new search (`demo-2`, ...). The best model is scored on the simulated test suite
exactly as `prixfixe-search evaluate --suite ... --pairs ...` scores it
(search/commands/evaluate.py), beside the k-mer ridge baseline.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from prixfixe_blocks.data.format.schema import META_FILE
from prixfixe_blocks.data.format.suite_tsv import PAIRS_FILE, SUITE_DIR, SUITE_FILE, read_suite
from prixfixe_blocks.data.simulate.simulated_suite import TRUTH
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.evaluation.evaluate import BASELINE_KEY
from prixfixe_blocks.training.metrics import pearson
from search.commands.evaluate import evaluate_model, label_of, report
from search.experiment import SEARCH_FILE, TRIALS_FILE
from search.record.mlflow_utils import resolve_tracking_uri
from search.record.mlflow_view import refresh_view
from search.record.tracking import client_for
from search.run.budget import parse_duration
from search.run.driver import run_search
from search.run.options import DEFAULT_EPOCHS, SearchOptions
from search.trial.trainable import METRIC
from spaces import load_space, parse_fixes

DEMO_FIXES = ["strategy.batch_size=128"]


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


def score_test_suite(model_dir: Path, data_dir: Path) -> dict[str, Any]:
    """`evaluate` of the model on the simulated test suite (printed, logged); its JSON doc."""
    suite, pairs = data_dir / SUITE_DIR / SUITE_FILE, data_dir / SUITE_DIR / PAIRS_FILE
    print(f"\nthe best model on the simulated test suite (prixfixe-search evaluate --model "
          f"{model_dir} --suite {suite} --pairs {pairs}):")
    evaluation = evaluate_model(model_dir, suite=str(suite), pairs=str(pairs), device="cpu")
    return report(model_dir, evaluation, label_of(str(suite), None, None))


def run_demo(directory: Path, rows: int, budget: str, trials: int | None = None,
             epochs: int | None = None) -> dict[str, Any]:
    """The whole demo: a search planned by its time budget (or `trials` x `epochs` at tiny
    width when given); returns the search summary plus the test-suite scores."""
    directory = directory.resolve()
    data_dir = directory / "data"
    ensure_data(data_dir, rows)
    runs = directory / "runs"
    planned = trials is None and epochs is None
    opts = SearchOptions(
        data=str(data_dir), name=next_name(runs), space="prixfixe", trials=trials,
        epochs=epochs or DEFAULT_EPOCHS, storage=str(runs),
        tracking_uri=resolve_tracking_uri(None, directory), width="tiny", fix=list(DEMO_FIXES),
        num_cpus=os.cpu_count(), cpus_per_trial=1.0, time_budget=parse_duration(budget),
        budget_plan=planned,
    )
    summary = run_search(opts)
    summary["test_scores"] = (score_test_suite(Path(summary["best_model"]), data_dir)
                              if summary.get("best_model") else {})
    summary["truth_ceiling"] = truth_ceiling(data_dir / SUITE_DIR / SUITE_FILE)
    summary["presets"] = preset_scores(runs / opts.name)
    doc = json.loads((runs / opts.name / SEARCH_FILE).read_text())
    refresh_view(client_for(doc["tracking_uri"]), doc["experiment_id"])  # test score columns
    return summary


def truth_ceiling(suite_path: Path) -> float:
    """Pearson r of the noise-free truth with the measured labels over the whole simulated
    suite: no model can be expected to beat it."""
    measured = read_suite(suite_path)
    truth = read_suite(suite_path, measure=TRUTH)
    rows = measured.members["all"]
    return pearson(truth.measured[rows], measured.measured[rows])


def preset_scores(root: Path) -> dict[str, float]:
    """Best validation r of each DREAM preset's trial in the search (they are enqueued first,
    at the search's width), by preset name."""
    doc = json.loads((root / SEARCH_FILE).read_text())
    space = load_space("prixfixe", width=doc["options"]["width"],
                       fixed=parse_fixes(doc["options"]["fix"]))
    records = json.loads((root / TRIALS_FILE).read_text()) if (root / TRIALS_FILE).is_file() \
        else {}
    found = {}
    for name, point in space.named_points().items():
        for record in records.values():
            if all(record["config"].get(k) == v for k, v in point.items()):
                found[name] = float(record.get("metrics", {}).get(METRIC, float("nan")))
    return found


def cli_demo(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search demo`."""
    summary = run_demo(Path(args.dir), args.rows, args.time_budget, args.trials, args.epochs)
    for name, value in summary["presets"].items():
        print(f"preset {name} (a trial of the search, same width and budget): best val r "
              f"{_text(value)}")
    if summary.get("best"):
        print(f"the search's best trial: best val r {_text(summary['best'][METRIC])}")
    scores = summary["test_scores"]
    if scores:
        base = scores[BASELINE_KEY]
        print(f"\nbest model on the simulated test suite: DREAM Pearson score "
              f"{_text(scores['pearson_score'])} (k-mer ridge {_text(base['pearson_score'])}), "
              f"Pearson r on all {_text(scores['subsets']['all']['pearson'])} "
              f"(k-mer ridge {_text(base['subsets']['all']['pearson'])}; the noise-free "
              f"truth's r with the labels, the ceiling: {_text(summary['truth_ceiling'])})")
    print(summary["mlflow_ui"])
    return 0 if summary.get("best") else 1


def _text(value: float | None) -> str:
    return "nan" if value is None else f"{value:.3f}"
