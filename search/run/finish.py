"""The end of a search: leaderboard CSV + plot, best model exported and logged, summary printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search.experiment import (
    BEST_MODEL_DIR,
    LEADERBOARD_FILE,
    OPTUNA_FILE,
    PLOT_FILE,
    ExperimentDir,
    copy_dir,
)
from search.record.mlflow_utils import browse_text, write_run_record
from search.record.tracking import RUN_ID, client_for, log_best_model, update_parent
from search.report.leaderboard import (
    best_row,
    format_table,
    leaderboard_rows,
    status_counts,
    write_curves_png,
    write_leaderboard_csv,
)

TOP = 5


def finish(exp: ExperimentDir, results: Any) -> dict[str, Any]:
    """Write leaderboard.csv, curves.png and best_model/, log the best model (registered when
    asked), describe and close the MLflow parent run, print the summary."""
    doc = exp.search()
    records = exp.trial_records()
    rows = leaderboard_rows(records)
    write_leaderboard_csv(exp.path(LEADERBOARD_FILE), rows)
    write_curves_png(exp.path(PLOT_FILE), records)
    best = best_row(rows)
    model_dir = export_best_model(exp, results, best["trial_id"]) if best else None
    client = client_for(doc["tracking_uri"])
    parent = doc["parent_run_id"]
    register = doc.get("options", {}).get("register")
    if model_dir is not None and best[RUN_ID]:
        log_best_model(doc["tracking_uri"], best[RUN_ID], model_dir, register)
        write_run_record(model_dir, best[RUN_ID], doc["tracking_uri"])  # where evaluate logs
        client.set_tag(parent, "best_trial_run_id", best[RUN_ID])
    update_parent(doc, records)
    for path in (exp.path(LEADERBOARD_FILE), exp.path(PLOT_FILE)):
        client.log_artifact(parent, str(path))
    client.set_terminated(parent, status="FINISHED" if best else "FAILED")
    exp.push(LEADERBOARD_FILE, PLOT_FILE, BEST_MODEL_DIR, OPTUNA_FILE)
    summary = {
        "best": best, "rows": rows, "counts": status_counts(records),
        "best_model": str(model_dir) if model_dir else None,
        "registered_model": register if model_dir is not None else None,
        "leaderboard": str(exp.path(LEADERBOARD_FILE)), "plot": str(exp.path(PLOT_FILE)),
        "mlflow_ui": browse_text(doc["tracking_uri"], doc["experiment_id"]),
    }
    print_summary(exp, summary)
    return summary


def export_best_model(exp: ExperimentDir, results: Any, trial_id: str) -> Path | None:
    """Copy the best trial's best-epoch model out of its last checkpoint into best_model/."""
    for result in results:
        if (result.metrics or {}).get("trial_id") != trial_id or result.checkpoint is None:
            continue
        with result.checkpoint.as_directory() as ckpt:
            source = Path(ckpt) / BEST_MODEL_DIR
            return copy_dir(source, exp.path(BEST_MODEL_DIR)) if source.is_dir() else None
    return None


def print_summary(exp: ExperimentDir, summary: dict[str, Any]) -> None:
    """Top configurations, where the files are, and how to browse them."""
    rows = summary["rows"]
    counts = ", ".join(f"{n} {s.lower()}" for s, n in summary["counts"].items())
    print(f"\nsearch '{exp.name}' done: {len(rows)} trials ({counts})")
    print(f"top {min(TOP, len(rows))} configurations (trial = Optuna trial number):")
    print(format_table(rows, limit=TOP))
    if summary["best"] is not None:
        print(f"best config: {summary['best']['config']}")
    print(f"leaderboard: {summary['leaderboard']}\nplot:        {summary['plot']}")
    if summary["best_model"]:
        print(f"best model:  {summary['best_model']} "
              f"(prixfixe-search predict --model {summary['best_model']} ...)")
    if summary["registered_model"]:
        print(f"registered:  MLflow model '{summary['registered_model']}'")
    print(f"Optuna study: optuna-dashboard {exp.path(OPTUNA_FILE)}")
    print(summary["mlflow_ui"])
