"""`prixfixe-search status NAME`: counts and the best trial, read from files (no Ray started)."""

from __future__ import annotations

import argparse
from typing import Any

from search.experiment import DRIVER_FILE, OPTUNA_FILE, open_experiment
from search.record.mlflow_utils import browse_text
from search.report.leaderboard import (
    DONE_STATES,
    METRIC,
    best_row,
    blocks_text,
    format_table,
    leaderboard_rows,
)


def search_status(name: str, storage: str = "runs") -> dict[str, Any]:
    """finished / running / pending counts, the best row and whether the driver is alive."""
    exp = open_experiment(storage, name)
    exp.pull()
    doc = exp.search()
    records = exp.trial_records()
    alive = exp.driver_alive()
    counts = {"finished": 0, "running": 0, "interrupted": 0}
    for record in records.values():
        status = record.get("status", "PENDING")
        if status in DONE_STATES:
            counts["finished"] += 1
        elif status == "RUNNING" and alive:
            counts["running"] += 1
        elif status == "RUNNING":
            counts["interrupted"] += 1
    counts["pending"] = max(0, int(doc["trials"]) - len(records))
    rows = leaderboard_rows(records)
    return {"name": name, "root": exp.where, "trials": int(doc["trials"]),
            "counts": counts, "driver_alive": alive, "best": best_row(rows), "rows": rows,
            "driver": exp.read_json(DRIVER_FILE, {}).get("state", "unknown"),
            "optuna": str(exp.path(OPTUNA_FILE)),
            "mlflow_ui": browse_text(doc["tracking_uri"], doc["experiment_id"])}


def cli_status(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search status`."""
    info = search_status(args.name, args.storage)
    c = info["counts"]
    print(f"search '{info['name']}' at {info['root']}: {info['trials']} trials asked")
    print(f"  finished {c['finished']}, running {c['running']}, pending {c['pending']}"
          + (f", interrupted {c['interrupted']} (driver lost: `prixfixe-search resume "
             f"{info['name']}`)" if c["interrupted"] else ""))
    print(f"  driver: {'running' if info['driver_alive'] else info['driver']}")
    if info["best"]:
        best = info["best"]
        print(f"  best: trial {best['trial']} {METRIC} {best[METRIC]:.4f} ({blocks_text(best)})")
    if info["rows"]:
        print(format_table(info["rows"], limit=10))
    print(f"Optuna study: optuna-dashboard {info['optuna']}")
    print(info["mlflow_ui"])
    return 0
