"""The one Ray Tune callback base of everything a search or a refit records per trial.

A `Recorder` keeps one JSON entry per Tune trial in a file of the experiment directory
(trials.json for a search's trials, refit.json's members for a refit's) and the trial's nested
MLflow run (search/record/tracking.py), both written in the driver, so trials on other nodes
need no access to the tracking store. The five Tune hooks do the same bookkeeping for both:
update the entry, save the file, then the MLflow run, then tell the listener (a display,
search/record/display.py). Subclasses say which entry a trial has, what a result adds to it
and how each event reads.
"""

from __future__ import annotations

import re
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from ray.tune import Callback

from search.experiment import RUN_ID, SEARCH_FILE, ExperimentDir
from search.record.display import LineDisplay
from search.record.tracking import TrialRuns
from search.report.leaderboard import FAILED
from search.trial.oom import oom_reason
from search.trial.trainable import DIVERGED

STOPPED_BY = "stopped_by"  # an entry's key: the scheduler decided to stop the trial at a result


class Listener(Protocol):
    """What a recorder tells as trials change (a live table or printed lines)."""

    def event(self, line: str, alert: bool = False) -> None: ...

    def show(self, records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> None: ...

    def close(self) -> None: ...


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


class Recorder(Callback):
    """Keeps `doc` (the JSON file `FILE` holding the entries) and each trial's MLflow run; holds
    only the experiment directory so it pickles cleanly (Tune saves its callbacks)."""

    FILE: str  # the entries' file in the experiment directory

    def __init__(self, exp: ExperimentDir) -> None:
        self.exp = exp
        self._listener: Listener | None = None
        self._start = time.time()

    def __getstate__(self) -> dict[str, Any]:
        return {"exp": self.exp}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["exp"])

    # -- what subclasses define ----------------------------------------------------------------
    def entry(self, trial: Any) -> dict[str, Any]:
        """The trial's entry (created when new)."""
        raise NotImplementedError

    def new_run(self, entry: dict[str, Any]) -> str:
        """The id of the entry's MLflow run when the entry has none: found, else created."""
        raise NotImplementedError

    def name(self, entry: dict[str, Any]) -> str:
        """How event lines name the trial."""
        raise NotImplementedError

    def update(self, entry: dict[str, Any], result: dict[str, Any]) -> str:
        """Put one epoch's result into the entry; returns the line that tells it."""
        raise NotImplementedError

    def make_listener(self) -> Listener:
        """Whom events are told (default: one printed line each)."""
        return LineDisplay()

    def link(self, entry: dict[str, Any]) -> str:
        """The run id of a starting trial (a subclass may link other names first)."""
        return self.run_id(entry)

    def stop_reason(self, entry: dict[str, Any]) -> str | None:
        """Why a completed trial ended before its last epoch (None: it ran them all)."""
        return None

    def started(self, entry: dict[str, Any], resumed: bool) -> str:
        return "resumed" if resumed else "started"

    def completed(self, entry: dict[str, Any], reason: str | None) -> str:
        return reason or "finished"

    def retrying(self, entry: dict[str, Any]) -> str:
        return f"failed; retrying from its last checkpoint: {entry['last_error']}"

    def failed(self, entry: dict[str, Any]) -> str:
        return f"FAILED: {entry['last_error']}"

    def changed(self) -> None:
        """After an entry changed (a subclass may redraw its listener)."""

    def ended(self) -> None:
        """After a trial ended (completed or failed)."""
        self.changed()

    # -- shared state ----------------------------------------------------------------------------
    @cached_property
    def doc(self) -> dict[str, Any]:
        """`FILE`'s content, read once; `save` writes it back."""
        return self.exp.read_json(self.FILE, {})

    def save(self) -> None:
        self.exp.write_json(self.FILE, self.doc)

    @cached_property
    def search(self) -> dict[str, Any]:
        """search.json (tracking URI, experiment and parent run, run overrides)."""
        return self.exp.read_json(SEARCH_FILE, {})

    @cached_property
    def runs(self) -> TrialRuns:
        return TrialRuns(self.search)

    @property
    def listener(self) -> Listener:
        if self._listener is None:
            self._listener = self.make_listener()
        return self._listener

    def run_id(self, entry: dict[str, Any]) -> str:
        """The entry's MLflow run (found or created, then kept in the entry: save after)."""
        if not entry.get(RUN_ID):
            entry[RUN_ID] = self.new_run(entry)
        return str(entry[RUN_ID])

    def say(self, entry: dict[str, Any], text: str, alert: bool = False) -> None:
        self.listener.event(f"[{time.time() - self._start:7.1f}s] {self.name(entry)} {text}",
                            alert)

    # -- Tune hooks ------------------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self.entry(trial)
        resumed = entry["status"] != "PENDING"
        entry["status"] = "RUNNING"
        run_id = self.link(entry)
        self.save()
        self.runs.mark_running(run_id)
        self.say(entry, self.started(entry, resumed))
        self.changed()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        entry = self.entry(trial)
        if DIVERGED in result:  # no score: the trial ends FAILED in on_trial_complete
            entry[DIVERGED] = result[DIVERGED]
            self.save()
            return
        if result.get("done"):  # Tune marks the result the scheduler stopped the trial at
            entry[STOPPED_BY] = "scheduler"
        text = self.update(entry, result)
        run_id = self.run_id(entry)
        self.save()
        self.runs.log_epoch(run_id, result)
        self.say(entry, text)
        self.changed()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self.entry(trial)
        if entry.get(DIVERGED):
            self._fail(entry, f"{entry[DIVERGED]} (not retried: it would diverge again)")
            return
        reason = self.stop_reason(entry)
        entry["status"] = "STOPPED" if reason else "FINISHED"
        run_id = self.run_id(entry)
        self.save()
        self.runs.complete(run_id, reason)
        self.say(entry, self.completed(entry, reason))
        self.ended()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self.entry(trial)
        entry["retries"] = entry.get("retries", 0) + 1
        entry["last_error"] = trial_error(trial)
        run_id = self.run_id(entry)
        self.save()
        self.runs.retried(run_id, entry["retries"])
        self.say(entry, self.retrying(entry), alert=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._fail(self.entry(trial), trial_error(trial))

    def _fail(self, entry: dict[str, Any], error: str) -> None:
        """End an entry and its run FAILED with `error`."""
        entry.update(status=FAILED, last_error=error)
        run_id = self.run_id(entry)
        self.save()
        self.runs.fail(run_id, error)
        self.say(entry, self.failed(entry), alert=True)
        self.ended()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Stop the listener (a live table) before the summary is printed."""
        if self._listener is not None:
            self._listener.close()
