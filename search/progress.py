"""The driver-side trial recorder: one record per trial, one printed line per trial event.

`TrialRecorder` is the only Ray Tune callback of a search. It keeps one record per trial in
`trials.json` (config, status, epoch, history, metrics, retries, stop reason, last error, node
and the trial's MLflow run id) and does the trial's MLflow logging from that same record, so
`status`, the leaderboard, the plot and the MLflow reconciliation all read one source, which
can be read without Ray even after the driver was lost.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.fit import EPOCH_METRICS
from search.experiment import CLOCK_FILE, OPTUNA_FILE, SEARCH_FILE, TRIALS_FILE, ExperimentDir
from search.report import format_table, leaderboard_rows
from search.tracking import RUN_ID, TrialRuns
from search.trainable import METRIC, trial_number

SHOWN_KEYS = ("strategy", *ROLES)


def describe_config(config: dict[str, Any]) -> str:
    """`first=bhi core=autosome ...` for a trial config (blocks and strategy bundle)."""
    return " ".join(f"{k}={config[k]}" for k in SHOWN_KEYS if k in config)


def stop_reason(record: dict[str, Any], epochs: int, time_budget: float | None,
                elapsed: float) -> str | None:
    """Why a completed trial ended before its last epoch (None if it ran them all)."""
    if record.get("epoch", 0) >= epochs:
        return None
    if time_budget is not None and elapsed >= time_budget:
        return f"time budget of {time_budget:g}s reached at epoch {record.get('epoch', 0)}"
    return (f"stopped by ASHA at epoch {record.get('epoch', 0)} of {epochs}: "
            f"{METRIC} below its rung's cut-off")


def trial_error(trial: Any) -> str:
    """The last exception line of a trial's error file (what the trial raised), for one line."""
    path = getattr(trial, "error_file", None)
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b.*: ", line)]
    return (raised or lines or ["unknown error"])[-1][:300]


class TrialRecorder(Callback):
    """Keeps trials.json and each trial's MLflow run; holds only paths so it pickles cleanly."""

    def __init__(self, exp: ExperimentDir) -> None:
        self.exp = exp
        self._records: dict[str, dict[str, Any]] | None = None
        self._search: dict[str, Any] | None = None
        self._runs: TrialRuns | None = None
        self._start = time.time()
        self._reconciled = False

    def __getstate__(self) -> dict[str, Any]:
        return {"exp": self.exp}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["exp"])

    # -- state ---------------------------------------------------------------------------------
    @property
    def records(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            self._records = self.exp.read_json(TRIALS_FILE, {})
        return self._records

    @property
    def search(self) -> dict[str, Any]:
        if self._search is None:
            self._search = self.exp.read_json(SEARCH_FILE, {})
        return self._search

    @property
    def runs(self) -> TrialRuns:
        if self._runs is None:
            self._runs = TrialRuns(self.search)
        return self._runs

    def _record(self, trial: Any) -> dict[str, Any]:
        record = self.records.setdefault(trial.trial_id, {
            "trial_id": trial.trial_id, "index": trial_number(trial.experiment_tag),
            "config": dict(trial.config), "status": "PENDING", "epoch": 0, "history": [],
            "retries": 0, "started": time.time(),
        })
        record["updated"] = time.time()
        return record

    def _run_id(self, record: dict[str, Any]) -> str:
        """The record's MLflow run (found or created, then kept in the record: save after)."""
        if not record.get(RUN_ID):
            record[RUN_ID] = self.runs.run_id(record)
        return str(record[RUN_ID])

    def _save(self) -> None:
        self.exp.write_json(TRIALS_FILE, self.records)

    def _say(self, trial: Any, text: str) -> None:
        number = trial_number(trial.experiment_tag)
        print(f"[{time.time() - self._start:7.1f}s] trial {number:03d} {text}", flush=True)

    # -- Tune hooks ----------------------------------------------------------------------------
    def setup(self, **info: Any) -> None:  # times count from the search's start (all drivers)
        self._start = time.time() - float(self.exp.read_json(CLOCK_FILE, {}).get("elapsed_s", 0))

    def reconcile(self, trials: list) -> list[str]:
        """Drop the records and MLflow runs of trials Tune does not know (started just before
        a lost driver and not in Tune's saved state: Tune starts them again as new trials), so
        no trial has two records or two runs."""
        known = {t.trial_id for t in trials}
        lost = [self.records.pop(tid) for tid in list(self.records) if tid not in known]
        for record in lost:
            print(f"trial {record['index']:03d} ({record['trial_id']}) was lost with the "
                  "previous driver before Ray Tune saved it; it is run again", flush=True)
        self.runs.delete_lost(known, lost)
        if lost:
            self._save()
        return [r["trial_id"] for r in lost]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if not self._reconciled:
            self._reconciled = True
            self.reconcile(trials)
        record = self._record(trial)
        resumed = record["status"] not in ("PENDING",)
        record["status"] = "RUNNING"
        run_id = self._run_id(record)
        self._save()
        self.runs.mark_running(run_id)
        verb = f"resumed at epoch {record['epoch']}" if resumed else "started"
        self._say(trial, f"{verb}: {describe_config(trial.config)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        record = self._record(trial)
        epoch = int(result.get("epoch", 0))
        record["history"] = [h for h in record["history"] if h["epoch"] < epoch]
        metrics = {k: float(result[k]) for k in EPOCH_METRICS
                   if isinstance(result.get(k), int | float)}
        record["history"].append({"epoch": epoch, **metrics})
        record.update(epoch=epoch, node_id=result.get("node_id"), metrics=metrics,
                      gpu_ids=result.get("gpu_ids", []))
        run_id = self._run_id(record)
        self._save()
        self.runs.log_epoch(run_id, result)
        epochs = self.search.get("epochs", "?")
        self._say(trial, f"epoch {epoch}/{epochs}: val_pearson {result.get('val_pearson', 0):.4f}"
                         f" best {result.get(METRIC, 0):.4f} loss {result.get('train_loss', 0):.4f}"
                         f" {result.get('seqs_per_s', 0):.0f} seq/s")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        reason = stop_reason(record, int(self.search.get("epochs", 0)),
                             self.search.get("time_budget"), time.time() - self._start)
        record["status"] = "STOPPED" if reason else "FINISHED"
        record["stop_reason"] = reason
        run_id = self._run_id(record)
        self._save()
        self.runs.complete(run_id, reason)
        best = record.get("metrics", {}).get(METRIC, float("nan"))
        self._say(trial, f"{reason or 'finished'} ({METRIC} {best:.4f})")
        self.exp.push(OPTUNA_FILE)
        print(format_table(leaderboard_rows(self.records), limit=10), flush=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        record["retries"] = record.get("retries", 0) + 1
        record["last_error"] = trial_error(trial)
        run_id = self._run_id(record)
        self._save()
        self.runs.retried(run_id, record["retries"])
        self._say(trial, f"failed at epoch {record['epoch'] + 1}; retrying from its last "
                         f"checkpoint (epoch {record['epoch']}): {record['last_error']}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        record["status"] = "FAILED"
        record["last_error"] = trial_error(trial)
        run_id = self._run_id(record)
        self._save()
        self.runs.fail(run_id, record["last_error"])
        self._say(trial, f"FAILED after {record.get('retries', 0)} retries: "
                         f"{record['last_error']}")
