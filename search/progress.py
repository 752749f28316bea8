"""The driver-side trial recorder and what a search shows while it runs.

`TrialRecorder` is the only Ray Tune callback of a search. It keeps one record per trial in
`trials.json` (config, status, epoch, history, metrics, retries, stop reason, last error, node,
the trial's Optuna number and MLflow run id) and does the trial's MLflow logging from that same
record, so `status`, the leaderboard, the plot and the MLflow reconciliation all read one
source, which can be read without Ray even after the driver was lost. It links each trial's
three names: the Optuna trial (found in the journal by its Tune id) gets the MLflow run id,
the MLflow run gets the Optuna number and the Tune id.

On a terminal the search shows one live leaderboard table (rich), redrawn on every event, with
failures printed above it; otherwise (a log file, CI) one line per event.
"""

from __future__ import annotations

import atexit
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.fit import EPOCH_METRICS
from search.experiment import (
    CLOCK_FILE,
    NUMBER,
    OPTUNA_FILE,
    SEARCH_FILE,
    TRIALS_FILE,
    ExperimentDir,
)
from search.oom import oom_reason
from search.report import (
    FAILED,
    SHORT_ID,
    blocks_text,
    leaderboard_rows,
    status_counts,
    trial_label,
)
from search.searcher import stopped_early
from search.study import find_trial, load_study, set_trial_attrs
from search.tracking import RUN_ID, TrialRuns, update_parent
from search.trainable import DIVERGED, METRIC, trial_number

LIVE_ROWS = 20  # leaderboard rows the live table shows
STOPPED_BY = "stopped_by"  # a record's key: the scheduler decided to stop the trial at a result

SHOWN_KEYS = ("strategy", *ROLES)


def describe_config(config: dict[str, Any]) -> str:
    """`first=bhi core=autosome ...` for a trial config (blocks and strategy bundle)."""
    return " ".join(f"{k}={config[k]}" for k in SHOWN_KEYS if k in config)


def stop_reason(record: dict[str, Any], epochs: int, *, scheduler: str = "asha",
                time_budget: float | None = None, elapsed: float = 0.0,
                halted: str | None = None) -> str | None:
    """Why a completed trial ended before its last epoch (None if it ran them all), naming what
    stopped it: the scheduler at a rung (its decision is in the record, `STOPPED_BY`), a halt of
    the whole search (the dataset guard), the time budget, or nothing recorded."""
    epoch = record.get("epoch", 0)
    if not stopped_early(epoch, epochs):
        return None
    if record.get(STOPPED_BY):
        if scheduler == "asha":
            return (f"stopped by ASHA at epoch {epoch} of {epochs}: {METRIC} below its rung's "
                    f"cut-off")
        return f"stopped by the {scheduler} scheduler at epoch {epoch} of {epochs}"
    if halted:
        return f"search halted at epoch {epoch} of {epochs}: {halted}"
    if time_budget is not None and elapsed >= time_budget:
        return f"time budget of {time_budget:g}s reached at epoch {epoch}"
    return f"ended at epoch {epoch} of {epochs} with no stop decision (the search ended)"


def trial_error(trial: Any) -> str:
    """The last exception line of a trial's error file (what the trial raised), for one line."""
    path = getattr(trial, "error_file", None)
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    oom = oom_reason(text)
    if oom:
        return oom
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b.*: ", line)]
    return (raised or lines or ["unknown error"])[-1][:300]


class LineDisplay:
    """One printed line per trial event (stdout is not a terminal: a log file, CI)."""

    def event(self, line: str, alert: bool = False) -> None:
        print(line, flush=True)

    def show(self, records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> None:
        """Nothing: the leaderboard is printed once, at the end."""

    def close(self) -> None:
        """Nothing to stop."""


class LiveDisplay:
    """One leaderboard table redrawn in place on every event (rich); only alerts (failures,
    retries, lost trials) are printed, above the table."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.live = Live(console=self.console, auto_refresh=False, redirect_stdout=True,
                         redirect_stderr=True)
        self.started = False

    def event(self, line: str, alert: bool = False) -> None:
        if alert:
            self.console.print(line, markup=False, highlight=False)

    def show(self, records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> None:
        if not self.started:
            self.live.start()
            atexit.register(self.close)  # a driver that dies mid-search restores the cursor
            self.started = True
        self.live.update(live_table(records, title, epochs), refresh=True)

    def close(self) -> None:
        if self.started:
            self.live.stop()
            self.started = False


def make_display(stream: TextIO | None = None) -> LineDisplay | LiveDisplay:
    """The live table on a terminal, one line per event otherwise."""
    stream = stream or sys.stdout
    return LiveDisplay() if stream.isatty() else LineDisplay()


def live_table(records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> Table:
    """The leaderboard as a rich table: best first, running trials with their epoch, each
    trial by its three names (Optuna number, Tune id, MLflow run)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (("#", "right"), ("trial", "right"), ("tune id", "left"),
                          ("mlflow run", "left"), ("status", "left"), ("epoch", "right"),
                          ("best r", "right"), ("val r", "right"), ("seq/s", "right"),
                          ("blocks (first/core/final) + strategy", "left")):
        table.add_column(name, justify=justify, no_wrap=not name.startswith("blocks"))
    rows = leaderboard_rows(records)
    for r in rows[:LIVE_ROWS]:
        table.add_row(str(r["rank"]), r["trial"], r["trial_id"], (r[RUN_ID] or "-")[:SHORT_ID],
                      r["status"], f"{r['epoch']}/{epochs}",
                      _fmt(r[METRIC]), _fmt(r["val_pearson"]), _fmt(r["seqs_per_s"], 0),
                      blocks_text(r))
    if len(rows) > LIVE_ROWS:
        table.caption = f"... {len(rows) - LIVE_ROWS} more"
    return table


def _fmt(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


class TrialRecorder(Callback):
    """Keeps trials.json and each trial's MLflow run; holds only paths so it pickles cleanly."""

    def __init__(self, exp: ExperimentDir) -> None:
        self.exp = exp
        self._records: dict[str, dict[str, Any]] | None = None
        self._search: dict[str, Any] | None = None
        self._runs: TrialRuns | None = None
        self._study: Any = None
        self._display: LineDisplay | LiveDisplay | None = None
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

    @property
    def display(self) -> LineDisplay | LiveDisplay:
        if self._display is None:
            self._display = make_display()
        return self._display

    @property
    def study(self) -> Any:
        """The search's Optuna study (None while its journal does not exist)."""
        if self._study is None:
            name = self.search.get("options", {}).get("name", self.exp.name)
            self._study = load_study(self.exp.path(OPTUNA_FILE), name)
        return self._study

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

    def _link(self, record: dict[str, Any]) -> str:
        """Name the trial three ways: its Optuna number into the record (before its MLflow run
        is created, whose name carries it), then the run id into the Optuna trial. Returns the
        run id (save after)."""
        study = self.study
        optuna_trial = find_trial(study, record["trial_id"]) if study is not None else None
        if optuna_trial is not None:
            record[NUMBER] = optuna_trial.number
        run_id = self._run_id(record)
        if optuna_trial is not None:
            set_trial_attrs(study, optuna_trial, {RUN_ID: run_id})
        return run_id

    def _save(self) -> None:
        self.exp.write_json(TRIALS_FILE, self.records)

    def _say(self, record: dict[str, Any], text: str, alert: bool = False) -> None:
        self.display.event(f"[{time.time() - self._start:7.1f}s] trial {trial_label(record)} "
                           f"({record['trial_id']}) {text}", alert)

    def _show(self) -> None:
        """Redraw the live leaderboard (a terminal only)."""
        pending = max(0, int(self.search.get("trials", 0)) - len(self.records))
        text = ", ".join(f"{n} {s.lower()}" for s, n in status_counts(self.records).items())
        self.display.show(self.records, f"search '{self.exp.name}' "
                          f"[{time.time() - self._start:.0f}s]: {text}, {pending} pending",
                          self.search.get("epochs", "?"))

    def _ended(self) -> None:
        """After a trial ends: the parent run's leaderboard, the journal copy, the display."""
        update_parent(self.search, self.records)
        self.exp.push(OPTUNA_FILE)
        self._show()

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
            self._say(record, "was lost with the previous driver before Ray Tune saved it; it "
                              "is run again", alert=True)
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
        run_id = self._link(record)
        self._save()
        self.runs.mark_running(run_id)
        verb = f"resumed at epoch {record['epoch']}" if resumed else "started"
        self._say(record, f"{verb}: {describe_config(trial.config)}")
        self._show()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        record = self._record(trial)
        if DIVERGED in result:  # no score: the trial ends FAILED in on_trial_complete
            record[DIVERGED] = result[DIVERGED]
            self._save()
            return
        if result.get("done"):  # Tune marks the result the scheduler stopped the trial at
            record[STOPPED_BY] = "scheduler"
        epoch = int(result.get("epoch", 0))
        record["history"] = [h for h in record["history"] if h["epoch"] < epoch]
        metrics = {k: float(result[k]) for k in EPOCH_METRICS
                   if isinstance(result.get(k), int | float)}
        record["history"].append({"epoch": epoch, **metrics, "at": round(time.time(), 3)})
        record.update(epoch=epoch, node_id=result.get("node_id"), metrics=metrics,
                      gpu_ids=result.get("gpu_ids", []))
        run_id = self._run_id(record)
        self._save()
        self.runs.log_epoch(run_id, result)
        epochs = self.search.get("epochs", "?")
        self._say(record, f"epoch {epoch}/{epochs}: val_pearson "
                          f"{result.get('val_pearson', 0):.4f} best {result.get(METRIC, 0):.4f} "
                          f"loss {result.get('train_loss', 0):.4f} "
                          f"{result.get('seqs_per_s', 0):.0f} seq/s")
        self._show()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        if record.get(DIVERGED):
            self._failed(record, f"{record[DIVERGED]} (not retried: it would diverge again)")
            return
        reason = stop_reason(
            record, int(self.search.get("epochs", 0)),
            scheduler=self.search.get("options", {}).get("scheduler", "asha"),
            time_budget=self.search.get("time_budget"), elapsed=time.time() - self._start,
            halted=self.exp.read_json(CLOCK_FILE, {}).get("halted"))
        record["status"] = "STOPPED" if reason else "FINISHED"
        record["stop_reason"] = reason
        run_id = self._run_id(record)
        self._save()
        self.runs.complete(run_id, reason)
        best = record.get("metrics", {}).get(METRIC, float("nan"))
        self._say(record, f"{reason or 'finished'} ({METRIC} {best:.4f})")
        self._ended()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        record["retries"] = record.get("retries", 0) + 1
        record["last_error"] = trial_error(trial)
        run_id = self._run_id(record)
        self._save()
        self.runs.retried(run_id, record["retries"])
        self._say(record, f"failed at epoch {record['epoch'] + 1}; retrying from its last "
                          f"checkpoint (epoch {record['epoch']}): {record['last_error']}",
                  alert=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        self._failed(record, f"{trial_error(trial)} (after {record.get('retries', 0)} retries)")

    def _failed(self, record: dict[str, Any], error: str) -> None:
        """End a trial's record and run FAILED with `error`."""
        record["status"] = FAILED
        record["last_error"] = error
        run_id = self._run_id(record)
        self._save()
        self.runs.fail(run_id, error)
        self._say(record, f"FAILED: {error}", alert=True)
        self._ended()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Stop the live table before the summary is printed."""
        if self._display is not None:
            self._display.close()
