"""The search section of `gpu_check.py`: a short `prixfixe-search run` with fractional GPUs per
trial (GPU mode: 4 trials, 0.5 GPU each, so two share the GPU at a time), summarised from its
trials.json: trials finished, how many ran at once, on which GPUs, their sequences/s."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_sections import DONE, OUT_OF_TIME, Mode

from prixfixe_blocks.training.metrics import BEST_METRIC

SEARCH_NAME = "gpu-check"
SEARCH_NEEDS = ("ray", "optuna", "mlflow")
DRIVER_SHARE = 0.25  # of the section's seconds kept for Ray's start, checks and the summary
GRACE_S = 20.0  # a section's process is killed this long after its budget
LOG_TAIL = 1500  # characters of a failed search's log kept in the results


def run_bounded(cmd: list[str], limit_s: float, env: dict[str, str],
                log: Path | None = None) -> tuple[int | None, float]:
    """Run `cmd` in its own process group; kill the group after `limit_s`. (exit code or None
    when killed, seconds)."""
    start = time.monotonic()
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                                stdout=sink if log else None, stderr=subprocess.STDOUT if log
                                else None)
        try:
            code: int | None = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return code, time.monotonic() - start


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most (start, end) spans open at one moment."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures of a search's trial records (trials.json values)."""
    rates = [h["seqs_per_s"] for r in records for h in r.get("history", []) if "seqs_per_s" in h]
    best = [r["metrics"][BEST_METRIC] for r in records if BEST_METRIC in r.get("metrics", {})]
    return {
        "trials_finished": sum(r.get("status") == "FINISHED" for r in records),
        "trials_stopped": sum(r.get("status") == "STOPPED" for r in records),
        "max_concurrent": max_overlap([(r["started"], r["updated"]) for r in records]),
        "gpu_ids": sorted({g for r in records for g in r.get("gpu_ids") or []}),
        "median_trial_seqs_per_s": statistics.median(rates) if rates else None,
        "best_val_pearson": max(best) if best else None,
        "stop_reasons": sorted({r["stop_reason"] for r in records if r.get("stop_reason")}),
    }


def search_section(mode: Mode, data: Path, work: Path, budget_s: float,
                   env: dict[str, str]) -> dict[str, Any]:
    """Run the search within `budget_s` (its `--time-budget` leaves DRIVER_SHARE for Ray and
    the summary; the process is killed GRACE_S after the budget) and summarise it."""
    missing = [name for name in SEARCH_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        return {"status": f"not run: {', '.join(missing)} not importable here "
                          "(pip install -e . installs them)"}
    storage, log = work / "runs", work / "search.log"
    search_budget = budget_s * (1 - DRIVER_SHARE)
    cmd = [sys.executable, "-m", "search.cli", "run", "--data", str(data), "--name",
           SEARCH_NAME, "--storage", str(storage), "--trials", str(mode.trials),
           "--gpus-per-trial", f"{mode.gpus_per_trial:g}", "--scheduler", "none",
           "--time-budget", f"{search_budget:.0f}", *mode.search_args]
    print(f"search: {' '.join(cmd[3:])}", flush=True)
    code, wall = run_bounded(cmd, budget_s + GRACE_S, env, log)
    trials = storage / SEARCH_NAME / "trials.json"
    records = list(json.loads(trials.read_text()).values()) if trials.is_file() else []
    doc: dict[str, Any] = {"trials": mode.trials, "gpus_per_trial": mode.gpus_per_trial,
                           "time_budget_s": search_budget, "wall_s": wall, "exit_code": code,
                           **summarise(records)}
    if code is None or doc["stop_reasons"]:
        doc["status"] = OUT_OF_TIME
    elif code != 0 or doc["trials_finished"] < mode.trials:
        doc["status"] = f"error (exit {code}, {doc['trials_finished']} trials finished)"
    else:
        doc["status"] = DONE
    if doc["status"] != DONE:
        doc["log_tail"] = log.read_text(errors="replace")[-LOG_TAIL:] if log.is_file() else ""
    return doc
