"""The end of a search: leaderboard CSV + plot, best model exported and logged, summary printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow.entities import LoggedModelOutput
from optuna.trial import TrialState

from search.experiment import (
    BEST_MODEL_DIR,
    CLOCK_FILE,
    LEADERBOARD_FILE,
    OPTUNA_FILE,
    PLOT_FILE,
    TRIALS_FILE,
    ExperimentDir,
    copy_dir,
)
from search.record.mlflow_utils import browse_text, write_run_record
from search.record.mlflow_view import mark_best, refresh_view
from search.record.tracking import RUN_ID, client_for, log_best_model, update_parent
from search.record.trials import stop_reason
from search.report.leaderboard import (
    DONE_STATES,
    LOST,
    best_row,
    format_table,
    leaderboard_rows,
    status_counts,
    write_curves_png,
    write_leaderboard_csv,
)
from search.run.resumable import SAVE_EVERY_S
from search.study.companion import write_companion
from search.study.journal import TUNE_ID_ATTR, load_study

TOP = 5
LOST_REASON = ("lost by the orchestrator: it never started or never ended (see the Ray Tune "
               "log); its configuration was not trained")


def finish(exp: ExperimentDir, results: Any) -> dict[str, Any]:
    """Write leaderboard.csv, curves.png and best_model/, log the best model (registered when
    asked; also the parent run's output, which MLflow 3 needs to file the parent under "Model
    training"), mark the best trial, describe and close the MLflow parent run, refresh the
    saved view, print the summary."""
    doc = exp.search()
    records = account_for_lost(exp)
    rows = leaderboard_rows(records)
    write_leaderboard_csv(exp.path(LEADERBOARD_FILE), rows)
    write_curves_png(exp.path(PLOT_FILE), records)
    best = best_row(rows)
    model_dir = export_best_model(exp, results, best["trial_id"]) if best else None
    client = client_for(doc["tracking_uri"])
    parent = doc["parent_run_id"]
    register = doc.get("options", {}).get("register")
    if model_dir is not None and best[RUN_ID]:
        model_id = log_best_model(doc["tracking_uri"], best[RUN_ID], model_dir, register)
        write_run_record(model_dir, best[RUN_ID], doc["tracking_uri"])  # where evaluate logs
        client.set_tag(parent, "best_trial_run_id", best[RUN_ID])
        client.log_outputs(parent, [LoggedModelOutput(model_id, 0)])  # the search's product
        mark_best(client, best[RUN_ID])
    refresh_view(client, doc["experiment_id"])
    write_companion(exp.path(OPTUNA_FILE), doc.get("options", {}).get("name", exp.name))
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


def search_ended_by(clock: dict[str, Any]) -> str | None:
    """What ended the whole search early, from clock.json's `clock`: a halt's reason (the
    dataset guard) or the time budget (None: it ran to its end). Tune stops the trials then
    without telling the callbacks or the searcher that they ended."""
    budget = clock.get("budget_s")
    if clock.get("halted"):
        return str(clock["halted"])
    if budget is not None and float(clock.get("elapsed_s", 0)) >= budget - SAVE_EVERY_S - 1:
        return "time budget"
    return None


def account_for_lost(exp: ExperimentDir) -> dict[str, dict[str, Any]]:
    """The trial records with none left unfinished: a trial the search's end cut off (the time
    budget, a halt) is STOPPED with that reason (Optuna: PRUNED); any other record that never
    ended, or an Optuna trial asked and never told (Ray aborted it before any callback saw it),
    is LOST (Optuna: FAIL) and named. Nothing is silent."""
    records, doc = exp.trial_records(), exp.search()
    clock = exp.read_json(CLOCK_FILE, {})
    ended_by = search_ended_by(clock)
    unfinished = {tid: r for tid, r in records.items() if r.get("status") not in DONE_STATES}
    study = load_study(exp.path(OPTUNA_FILE), exp.name)
    asked = [t for t in (study.get_trials(deepcopy=False) if study else [])
             if t.state.name == "RUNNING" and TUNE_ID_ATTR in t.user_attrs]
    for trial in asked:
        tid = trial.user_attrs[TUNE_ID_ATTR]
        if records.get(tid, {}).get("status") in DONE_STATES:
            continue
        unfinished.setdefault(tid, records.get(tid) or {
            "trial_id": tid, "index": trial.number + 1, "config": trial.params,
            "epoch": 0, "history": [], "metrics": {}})
        study.tell(trial.number, state=TrialState.PRUNED if ended_by else TrialState.FAIL)
    for tid, record in unfinished.items():
        if ended_by:
            record.update(status="STOPPED", stop_reason=stop_reason(
                record, int(doc.get("epochs", 0)), time_budget=clock.get("budget_s"),
                elapsed=float(clock.get("elapsed_s", 0)), halted=clock.get("halted")))
        else:
            record.update(status=LOST, last_error=LOST_REASON)
            print(f"WARNING: trial {record.get('index', '?')} ({tid}) was {LOST_REASON}",
                  flush=True)
        records[tid] = record
    if unfinished:
        exp.write_json(TRIALS_FILE, records)
    return records


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
