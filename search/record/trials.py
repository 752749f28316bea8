"""The driver-side recorder of a search's trials.

`TrialRecorder` is the only Ray Tune callback of a search. It keeps one record per trial in
`trials.json` (config, status, epoch, history, metrics, retries, stop reason, last error, node,
the trial's Optuna number and MLflow run id) and does the trial's MLflow logging from that same
record, so `status`, the leaderboard, the plot and the MLflow reconciliation all read one
source, which can be read without Ray even after the driver was lost. It links each trial's
three names: the Optuna trial (found in the journal by its Tune id) gets the MLflow run id,
the MLflow run gets the Optuna number and the Tune id. What it records, it tells a display
(search/record/display.py).
"""

from __future__ import annotations

import time
from typing import Any

from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.fit import EPOCH_METRICS
from search.experiment import CLOCK_FILE, NUMBER, OPTUNA_FILE, RUN_ID, TRIALS_FILE, ExperimentDir
from search.record.base import STOPPED_BY, Listener, Recorder
from search.record.display import make_display
from search.record.tracking import update_parent
from search.report.leaderboard import status_counts, trial_label
from search.study.journal import find_trial, load_study, set_trial_attrs
from search.study.searcher import stopped_early
from search.trial.trainable import METRIC, trial_number

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


class TrialRecorder(Recorder):
    """Keeps trials.json and each trial's MLflow run and Optuna links."""

    FILE = TRIALS_FILE

    def __init__(self, exp: ExperimentDir) -> None:
        super().__init__(exp)
        self._study: Any = None
        self._reconciled = False

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """trials.json: trial id -> record."""
        return self.doc

    @property
    def study(self) -> Any:
        """The search's Optuna study (None while its journal does not exist)."""
        if self._study is None:
            name = self.search.get("options", {}).get("name", self.exp.name)
            self._study = load_study(self.exp.path(OPTUNA_FILE), name)
        return self._study

    def entry(self, trial: Any) -> dict[str, Any]:
        record = self.records.setdefault(trial.trial_id, {
            "trial_id": trial.trial_id, "index": trial_number(trial.experiment_tag),
            "config": dict(trial.config), "status": "PENDING", "epoch": 0, "history": [],
            "retries": 0, "started": time.time(),
        })
        record["updated"] = time.time()
        return record

    def new_run(self, entry: dict[str, Any]) -> str:
        return self.runs.run_id(entry)

    def link(self, entry: dict[str, Any]) -> str:
        """Name the trial three ways: its Optuna number into the record (before its MLflow run
        is created, whose name carries it), then the run id into the Optuna trial. Returns the
        run id (save after)."""
        study = self.study
        optuna_trial = find_trial(study, entry["trial_id"]) if study is not None else None
        if optuna_trial is not None:
            entry[NUMBER] = optuna_trial.number
        run_id = self.run_id(entry)
        if optuna_trial is not None:
            set_trial_attrs(study, optuna_trial, {RUN_ID: run_id})
        return run_id

    def name(self, entry: dict[str, Any]) -> str:
        return f"trial {trial_label(entry)} ({entry['trial_id']})"

    def make_listener(self) -> Listener:
        return make_display()

    def update(self, entry: dict[str, Any], result: dict[str, Any]) -> str:
        epoch = int(result.get("epoch", 0))
        entry["history"] = [h for h in entry["history"] if h["epoch"] < epoch]
        metrics = {k: float(result[k]) for k in EPOCH_METRICS
                   if isinstance(result.get(k), int | float)}
        entry["history"].append({"epoch": epoch, **metrics, "at": round(time.time(), 3)})
        entry.update(epoch=epoch, node_id=result.get("node_id"), metrics=metrics,
                     gpu_ids=result.get("gpu_ids", []))
        return (f"epoch {epoch}/{self.search.get('epochs', '?')}: val_pearson "
                f"{result.get('val_pearson', 0):.4f} best {result.get(METRIC, 0):.4f} "
                f"loss {result.get('train_loss', 0):.4f} {result.get('seqs_per_s', 0):.0f} seq/s")

    def stop_reason(self, entry: dict[str, Any]) -> str | None:
        """Why the trial stopped early (kept in its record as `stop_reason`)."""
        entry["stop_reason"] = stop_reason(
            entry, int(self.search.get("epochs", 0)),
            scheduler=self.search.get("options", {}).get("scheduler", "asha"),
            time_budget=self.search.get("time_budget"), elapsed=time.time() - self._start,
            halted=self.exp.read_json(CLOCK_FILE, {}).get("halted"))
        return entry["stop_reason"]

    def started(self, entry: dict[str, Any], resumed: bool) -> str:
        verb = f"resumed at epoch {entry['epoch']}" if resumed else "started"
        return f"{verb}: {describe_config(entry['config'])}"

    def completed(self, entry: dict[str, Any], reason: str | None) -> str:
        best = entry.get("metrics", {}).get(METRIC, float("nan"))
        return f"{reason or 'finished'} ({METRIC} {best:.4f})"

    def retrying(self, entry: dict[str, Any]) -> str:
        return (f"failed at epoch {entry['epoch'] + 1}; retrying from its last checkpoint "
                f"(epoch {entry['epoch']}): {entry['last_error']}")

    def failed(self, entry: dict[str, Any]) -> str:
        return f"FAILED after {entry.get('retries', 0)} retries: {entry['last_error']}"

    def changed(self) -> None:
        """Redraw the live leaderboard (a terminal only)."""
        pending = max(0, int(self.search.get("trials", 0)) - len(self.records))
        text = ", ".join(f"{n} {s.lower()}" for s, n in status_counts(self.records).items())
        self.listener.show(self.records, f"search '{self.exp.name}' "
                           f"[{time.time() - self._start:.0f}s]: {text}, {pending} pending",
                           self.search.get("epochs", "?"))

    def ended(self) -> None:
        """After a trial ends: the parent run's leaderboard, the journal copy, the display."""
        update_parent(self.search, self.records)
        self.exp.push(OPTUNA_FILE)
        self.changed()

    # -- Tune hooks beyond the base's --------------------------------------------------------
    def setup(self, **info: Any) -> None:  # times count from the search's start (all drivers)
        self._start = time.time() - float(self.exp.read_json(CLOCK_FILE, {}).get("elapsed_s", 0))

    def reconcile(self, trials: list) -> list[str]:
        """Drop the records and MLflow runs of trials Tune does not know (started just before
        a lost driver and not in Tune's saved state: Tune starts them again as new trials), so
        no trial has two records or two runs."""
        known = {t.trial_id for t in trials}
        lost = [self.records.pop(tid) for tid in list(self.records) if tid not in known]
        for record in lost:
            self.say(record, "was lost with the previous driver before Ray Tune saved it; it "
                             "is run again", alert=True)
        self.runs.delete_lost(known, lost)
        if lost:
            self.save()
        return [r["trial_id"] for r in lost]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if not self._reconciled:
            self._reconciled = True
            self.reconcile(trials)
        super().on_trial_start(iteration, trials, trial, **info)
