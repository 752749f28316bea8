"""Handler of `prixfixe-search evaluate` (parser in search/cli.py), also used by the demo.

A model and the k-mer ridge baseline are scored on the same rows (a suite, or a dataset's rows
or split), printed as one table, optionally written as JSON, and logged to the model's MLflow
run when its directory records one (mlflow_run.json): metrics under `evaluate/LABEL/...` and
the JSON as the artifact `evaluate/LABEL.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path
from typing import Any

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.format.suite_tsv import DEFAULT_MEASURE, read_suite
from prixfixe_blocks.data.store.location import normalize
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.baseline import baseline_dataset, fit_baseline
from prixfixe_blocks.evaluation.ensemble import any_trained_on, load_any_predictor
from prixfixe_blocks.evaluation.evaluate import (
    Evaluation,
    dataset_rows,
    evaluate_rows,
    evaluate_suite,
    target_index,
)
from prixfixe_blocks.plugins import load_plugins
from search.record.mlflow_utils import RUN_FILE, read_run_record

METRIC_PREFIX = "evaluate"
NOT_LOGGED = ("weights",)  # JSON entries that are not metrics
MAX_BATCH = 1000  # MLflow's limit on metrics per log_batch call


def evaluate_model(model: str | Path, *, suite: str | None = None, pairs: str | None = None,
                   measure: str = DEFAULT_MEASURE, data: str | None = None,
                   split: str | None = None, baseline_data: str | None = None,
                   device: str = "auto", batch_size: int = 1024) -> Evaluation:
    """Score the model in `model` and the k-mer ridge baseline on a suite or a dataset."""
    if (suite is None) == (data is None):
        raise ConfigError("evaluate needs either a suite or a dataset")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    predictor = load_any_predictor(model, device=device)
    targets = predictor.targets

    def predict(seqs: Any) -> Any:
        return predictor.predict(seqs, batch_size=batch_size)

    base_dir, val_folds = baseline_dataset(model, baseline_data, fallback=data)
    if suite is not None:
        parsed = read_suite(suite, measure=measure, pairs=pairs)
        baseline = fit_baseline(base_dir, [targets[target_index(targets, measure)]], val_folds)
        source = {"model": str(model), "suite": str(suite), "pairs": pairs, "measure": measure,
                  "sequences": len(parsed.sequences), "suite_rows": parsed.n_rows}
        return evaluate_suite(predict, targets, parsed, baseline, source)
    rows = dataset_rows(str(data), targets, split)
    baseline = fit_baseline(base_dir, targets, val_folds)
    recorded = any_trained_on(model)
    own = recorded is not None and normalize(str(data)) == recorded.path
    notes = ["note: these rows include the model's own training rows (no --split)"] \
        if own and split is None else []
    return evaluate_rows(predict, targets, rows, baseline,
                         {"model": str(model), "data": str(data), "split": split}, notes)


def label_of(suite: str | None, data: str | None, split: str | None) -> str:
    """The MLflow name of an evaluation: the suite file's stem, or DATASET-SPLIT."""
    raw = Path(suite).stem if suite else f"{Path(str(data)).name}-{split or 'all'}"
    return _clean(raw)


def _clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def json_ready(value: Any) -> Any:
    """The document with non-finite floats as null (valid JSON)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def flat_metrics(doc: dict[str, Any], prefix: str) -> dict[str, float]:
    """The finite float figures of an evaluation's JSON as `prefix/key/...` metric names."""
    out: dict[str, float] = {}
    for key, value in doc.items():
        name = f"{prefix}/{_clean(key)}"
        if key in NOT_LOGGED:
            continue
        if isinstance(value, dict):
            out.update(flat_metrics(value, name))
        elif isinstance(value, float) and math.isfinite(value):
            out[name] = value
    return out


def log_to_run(model_dir: str | Path, doc: dict[str, Any], label: str) -> str:
    """Log the figures to the model's MLflow run; returns the one line to print."""
    record = read_run_record(Path(model_dir))
    if record is None:
        return f"MLflow: no run recorded in {model_dir} ({RUN_FILE}); metrics not logged"
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    run_id, uri = record
    metrics = flat_metrics(doc, f"{METRIC_PREFIX}/{label}")
    stamp = int(time.time() * 1000)
    items = [Metric(k, v, stamp, 0) for k, v in metrics.items()]
    try:
        client = MlflowClient(tracking_uri=uri)
        for start in range(0, len(items), MAX_BATCH):
            client.log_batch(run_id, metrics=items[start: start + MAX_BATCH])
        client.log_text(run_id, json.dumps(doc, indent=2), f"{METRIC_PREFIX}/{label}.json")
    except MlflowException as err:
        return f"MLflow: could not log to run {run_id} at {uri}: {err}"
    return (f"MLflow: {len(items)} metrics logged to run {run_id} "
            f"({METRIC_PREFIX}/{label}/...) at {uri}")


def report(model_dir: str | Path, evaluation: Evaluation, label: str,
           json_path: str | None = None) -> dict[str, Any]:
    """Print the table, write the JSON (atomically) if asked, log to MLflow; the JSON doc."""
    doc = json_ready(evaluation.to_json())
    print(evaluation.table())
    if json_path:
        atomic_write_text(Path(json_path), json.dumps(doc, indent=2) + "\n")
        print(f"figures written to {json_path}")
    print(log_to_run(model_dir, doc, label))
    return doc


def cli_evaluate(args: argparse.Namespace) -> int:
    """`evaluate --model M (--data D [--split S] | --suite S [--pairs P] [--measure C])`."""
    load_plugins(args.plugins)
    if args.split is not None and args.data is None:
        raise ConfigError("--split selects rows of --data; it does not apply to --suite")
    if args.suite is None and (args.pairs is not None or args.measure is not None):
        raise ConfigError("--pairs and --measure apply to --suite only")
    evaluation = evaluate_model(
        args.model, suite=args.suite, pairs=args.pairs, measure=args.measure or DEFAULT_MEASURE,
        data=args.data, split=args.split, baseline_data=args.baseline_data, device=args.device,
        batch_size=args.batch_size)
    report(args.model, evaluation, label_of(args.suite, args.data, args.split), args.json_out)
    return 0
