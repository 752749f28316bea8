"""The end of a search: leaderboard CSV + plot, best model exported and logged, summary printed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from search.experiment import (
    BEST_MODEL_DIR,
    LEADERBOARD_FILE,
    OPTUNA_FILE,
    PLOT_FILE,
    ExperimentDir,
)
from search.mlflow_utils import ui_command
from search.report import (
    NO_RANK,
    format_table,
    leaderboard_rows,
    write_curves_png,
    write_leaderboard_csv,
)
from search.tracking import RUN_ID, client_for, log_best_model
from search.trainable import METRIC

TOP = 5


def finish(exp: ExperimentDir, results: Any) -> dict[str, Any]:
    """Write leaderboard.csv, curves.png and best_model/, close the MLflow parent run, print."""
    doc = exp.search()
    records = exp.trial_records()
    rows = leaderboard_rows(records)
    write_leaderboard_csv(exp.path(LEADERBOARD_FILE), rows)
    write_curves_png(exp.path(PLOT_FILE), records)
    best = rows[0] if rows and rows[0]["rank"] != NO_RANK and _finite(rows[0][METRIC]) else None
    model_dir = None
    if best is not None:
        model_dir = export_best_model(exp, results, best["trial_id"])
    client = client_for(doc["tracking_uri"])
    parent = doc["parent_run_id"]
    if model_dir is not None:
        run_id = records[best["trial_id"]].get(RUN_ID)
        if run_id:
            log_best_model(doc["tracking_uri"], run_id, model_dir)
        client.set_tag(parent, "best_trial_id", best["trial_id"])
        client.log_metric(parent, METRIC, float(best[METRIC]))
    for path in (exp.path(LEADERBOARD_FILE), exp.path(PLOT_FILE)):
        client.log_artifact(parent, str(path))
    client.set_terminated(parent, status="FINISHED" if best else "FAILED")
    exp.push(LEADERBOARD_FILE, PLOT_FILE, BEST_MODEL_DIR, OPTUNA_FILE)
    summary = {
        "best": best, "rows": rows, "counts": status_counts(records),
        "best_model": str(model_dir) if model_dir else None,
        "leaderboard": str(exp.path(LEADERBOARD_FILE)), "plot": str(exp.path(PLOT_FILE)),
        "mlflow_ui": ui_command(doc["tracking_uri"]),
    }
    print_summary(exp, summary)
    return summary


def status_counts(records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Trials per status (FINISHED, STOPPED, FAILED, RUNNING, PENDING)."""
    counts: dict[str, int] = {}
    for record in records.values():
        status = record.get("status", "PENDING")
        counts[status] = counts.get(status, 0) + 1
    return counts


def export_best_model(exp: ExperimentDir, results: Any, trial_id: str) -> Path | None:
    """Copy the best trial's best-epoch model out of its last checkpoint into best_model/."""
    for result in results:
        if (result.metrics or {}).get("trial_id") != trial_id or result.checkpoint is None:
            continue
        with result.checkpoint.as_directory() as ckpt:
            source = Path(ckpt) / BEST_MODEL_DIR
            if not source.is_dir():
                return None
            target = exp.path(BEST_MODEL_DIR)
            tmp = exp.path(f".{BEST_MODEL_DIR}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source, tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            return target
    return None


def print_summary(exp: ExperimentDir, summary: dict[str, Any]) -> None:
    """Top configurations, where the files are, and how to browse them."""
    rows = summary["rows"]
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(summary["counts"].items()))
    print(f"\nsearch '{exp.name}' done: {len(rows)} trials ({counts})")
    print(f"top {min(TOP, len(rows))} configurations:")
    print(format_table(rows, limit=TOP))
    if summary["best"] is not None:
        print(f"best config: {summary['best']['config']}")
    print(f"leaderboard: {summary['leaderboard']}\nplot:        {summary['plot']}")
    if summary["best_model"]:
        print(f"best model:  {summary['best_model']} "
              f"(prixfixe-search predict --model {summary['best_model']} ...)")
    print(f"Optuna study: optuna-dashboard {exp.path(OPTUNA_FILE)}")
    print(f"MLflow runs: {summary['mlflow_ui']}")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
