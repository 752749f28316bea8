"""Search state that Ray Tune does not carry over a resume: ASHA's rungs and the search clock.

`Tuner.restore` rebuilds the scheduler from the pickle made when the search was created, so
plain ASHA would come back with empty rungs and judge every trial after a resume against
nothing. `ResumableASHA` refills its rungs from the trial records (trials.json) as Tune
re-adds each restored trial: a trial's recorded epochs up to the result Tune restored it at
go back into the rungs they were recorded in, so later decisions use the same cut-offs as an
uninterrupted search.

`SearchClock` is the `--time-budget`: a Tune stopper that counts the search's running time over
all its drivers (stored in clock.json every few seconds, so a killed driver loses at most that
much) and stops the search when the budget is spent; a resumed search gets what is left.

`DataGuard` stops the whole search (through the clock) as soon as a trial fails because the
dataset is not the one the search recorded: every other trial would fail the same way.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback, Stopper
from ray.tune.schedulers import ASHAScheduler

from prixfixe_blocks.data.store.location import DATA_CHANGED
from search.experiment import CLOCK_FILE, TRIALS_FILE, ExperimentDir
from search.record.base import trial_error

SAVE_EVERY_S = 5.0


class ResumableASHA(ASHAScheduler):
    """ASHA (async successive halving) whose rungs survive `resume` (module docstring)."""

    def __init__(self, *args: Any, exp: ExperimentDir | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exp = exp
        self._records: dict[str, dict[str, Any]] | None = None

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        reached = (getattr(trial, "last_result", None) or {}).get(self._time_attr)
        if self.exp is None or not reached:
            return  # a new trial: nothing recorded yet
        if self._records is None:
            self._records = self.exp.read_json(TRIALS_FILE, {})
        record = self._records.get(trial.trial_id, {})
        bracket = self._trial_info[trial.trial_id]
        for entry in sorted(record.get("history", []), key=lambda e: e["epoch"]):
            value = entry.get(self._metric)
            if entry["epoch"] <= reached and isinstance(value, int | float):
                bracket.on_result(trial, entry["epoch"], self._metric_op * value)

    def rungs(self) -> list[tuple[float, dict[str, float]]]:
        """(milestone, {trial_id: recorded value}) of the first bracket, lowest milestone first."""
        return [(m, dict(r)) for m, r in reversed(self._brackets[0]._rungs)]


class SearchClock(Stopper):
    """The search's running time over all its drivers, and `--time-budget` on it."""

    def __init__(self, exp: ExperimentDir, budget: float | None) -> None:
        self.exp, self.budget = exp, budget
        self._before: float | None = None
        self._start = self._saved = 0.0
        self.halted: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"exp": self.exp, "budget": self.budget}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["exp"], state["budget"])

    def used_before(self) -> float:
        """Seconds spent by earlier drivers of this search (0 for a new one)."""
        return float(self.exp.read_json(CLOCK_FILE, {}).get("elapsed_s", 0.0))

    def elapsed(self) -> float:
        """Seconds the whole search has run so far (the clock starts on first use)."""
        if self._before is None:
            self._before, self._start = self.used_before(), time.time()
        return self._before + time.time() - self._start

    def left(self) -> float | None:
        """Seconds of the budget left (None: no budget)."""
        return None if self.budget is None else max(0.0, self.budget - self.elapsed())

    def save(self, force: bool = False) -> None:
        """Store the elapsed time (at most every SAVE_EVERY_S seconds unless forced)."""
        now = time.time()
        if force or now - self._saved >= SAVE_EVERY_S:
            self._saved = now
            self.exp.write_json(CLOCK_FILE, {"elapsed_s": round(self.elapsed(), 3),
                                             "budget_s": self.budget, "halted": self.halted})

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        self.save()
        if self.halted:
            return True
        return self.budget is not None and self.elapsed() >= self.budget

    def halt(self, reason: str) -> None:
        """Stop the search at the next step of Tune's loop (all trials), for `reason` (kept in
        clock.json, where the trial recorder reads why the other trials stopped)."""
        self.halted = reason
        self.save(force=True)

    def describe(self) -> str:
        """One line for the driver's output: budget, time used and time left."""
        used = self.used_before()
        if self.budget is None:
            return f"search clock: {used:.0f} s used by earlier drivers (no --time-budget)"
        left = max(0.0, self.budget - used)
        return (f"time budget: {self.budget:.0f} s for the whole search; {used:.0f} s used "
                f"before this driver, {left:.0f} s left")


class DataGuard(Callback):
    """Halts the search when a trial failed on changed data (module docstring)."""

    def __init__(self, clock: SearchClock) -> None:
        self.clock = clock

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check(trial)

    def _check(self, trial: Any) -> None:
        error = trial_error(trial)
        if DATA_CHANGED in error and not self.clock.halted:
            print(f"stopping the search: {error}", flush=True)
            self.clock.halt(error)
