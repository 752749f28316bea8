"""OptunaSearch that tells Optuna what Tune did: every epoch, pruned trials, linked ids.

Ray's OptunaSearch reports `training_iteration` steps from `on_trial_result` only, so the last
epoch (which Tune hands to `on_trial_complete` instead) never becomes an intermediate value,
and it tells a trial the scheduler stopped as COMPLETE with its truncated value. Here every
epoch is an intermediate value at step = epoch, a trial that ended before the run's last epoch
(ASHA, the time budget) is told PRUNED (Optuna then takes its last intermediate value, as for
its own pruned trials), and each Optuna trial carries its Tune trial id.

The study lives in a journal file that may be ahead of Tune's saved state after a lost driver:
Tune restores the searcher from its last snapshot while the journal (written on every tell) may
already record a trial as finished, or hold trials asked just before the kill. Reporting to a
finished trial would crash the resumed driver; orphans would show as RUNNING forever in
optuna-dashboard. This subclass tolerates the first and fails the second on restore.

The journal's reader state (byte offsets of its lines) is pickled with the searcher, so the
journal a restored searcher reads must contain the one it was saved with. Each time Tune saves
the searcher into its experiment directory (which it copies to --storage), a copy of the journal
goes with it; on restore, that copy replaces a local journal that is shorter (a driver on
another machine, or a stale mirror of an object store), and a local journal that is ahead of
it (same machine) is kept.

ASHA's first rung comes after the learning-rate warm-up (`first_rung`).

Size-aware searches (objectives.py): with a list of metrics the study is multi-objective
(Optuna takes no intermediate values then; a trial's values are its metrics at its end), and
with `max_params` + `count` a sampled configuration above the limit is told PRUNED (user
attribute `rejected`) and sampled again before Tune ever starts it.

A sampled configuration equal to one already trained or running is not trained again and is no
new evidence (told FAIL with `repeat_of`); an untried neighbour of it is proposed instead
(repeats.py).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.strategies.optim import MAX_WARMUP_FRACTION, ONECYCLE_PCT_START
from search.study.journal import TUNE_ID_ATTR
from search.study.objectives import REJECTED_ATTR
from search.study.repeats import MAX_REJECTED, RepeatHandling
from search.trial.trainable import DIVERGED, PARAMS

logger = logging.getLogger(__name__)
# Beside Tune's searcher checkpoint; JSON lines, named .json because Tune restores only the
# .json and .pkl files of its experiment directory.
JOURNAL_COPY = "optuna-journal-copy.json"

ASHA_REDUCTION = 3  # ASHA keeps the best third of the trials at each rung
# `--sampler tpe`: joint (multivariate, grouped by block choice) TPE, pending trials told the
# worst value so parallel workers spread out; 10 random trials (presets count) before it models.
TPE_SETTINGS: dict[str, Any] = {"n_startup_trials": 10, "multivariate": True, "group": True,
                                "constant_liar": True}
# The longest LR warm-up of the built-in schedules, as a fraction of the run (One Cycle's
# pct_start; adam_warmup is capped there too): a trial is judged only after it.
WARMUP_FRACTION = max(ONECYCLE_PCT_START, MAX_WARMUP_FRACTION)


_LOCK_TYPE = type(threading.Lock())


class PicklableNSGAII(optuna.samplers.NSGAIISampler):
    """NSGA-II that survives Ray's pickling of the searcher (Tuner state, searcher snapshots).

    optuna 5.1 keeps a `threading.Lock` on its genetic samplers, which cannot be pickled
    (`TypeError: cannot pickle '_thread.lock' object` inside `tune.Tuner`); optuna 5.0 has none.
    Locks are left out of the pickle and made anew when it is loaded."""

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if not isinstance(v, _LOCK_TYPE)}
        state["_pickled_without_locks"] = [k for k, v in self.__dict__.items()
                                           if isinstance(v, _LOCK_TYPE)]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        locks = state.pop("_pickled_without_locks", [])
        self.__dict__.update(state)
        for name in locks:
            setattr(self, name, threading.Lock())


def first_rung(epochs: int, grace_period: int | None = None) -> int:
    """ASHA's first rung (its grace period): `grace_period` when given, else one epoch after
    the LR warm-up ends, ceil(WARMUP_FRACTION x epochs) + 1 (10 epochs: 4; 6 epochs: 3), so
    that no trial is judged while its learning rate is still rising (epoch-1 scores were
    measured to have an arbitrary sign); at most `epochs` (then ASHA stops nothing)."""
    if grace_period is not None:
        if grace_period < 1:
            raise ConfigError(f"--grace-period must be >= 1, got {grace_period}")
        return min(grace_period, epochs)
    return min(epochs, max(1, math.ceil(WARMUP_FRACTION * epochs)) + 1)


def stopped_early(epoch: int, epochs: int) -> bool:
    """Whether a trial that ended after `epoch` epochs of `epochs` was stopped early."""
    return epoch < epochs


class DurableOptunaSearch(RepeatHandling, OptunaSearch):
    """OptunaSearch for a run of `epochs` epochs per trial whose study's journal file is
    `journal` (see the module docstring)."""

    def __init__(self, *args: Any, epochs: int, journal: str | None = None,
                 max_params: int | None = None,
                 count: Callable[[dict[str, Any]], int] | None = None, **kwargs: Any) -> None:
        seed = kwargs.get("seed")
        if kwargs.get("sampler") is not None:
            kwargs.pop("seed", None)  # OptunaSearch seeds only a sampler it makes (and warns)
        super().__init__(*args, **kwargs)
        self.epochs, self.journal = epochs, journal
        self.max_params, self.count = max_params, count
        self._reported: dict[str, set[int]] = {}  # Tune trial id -> epochs told to Optuna
        self._fallback = np.random.default_rng(seed)  # draws neighbours, seeds random re-asks

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        super().save_to_dir(checkpoint_dir, session_str)
        if self.journal and os.path.isfile(self.journal):
            tmp = os.path.join(checkpoint_dir, f".{JOURNAL_COPY}.tmp")
            shutil.copyfile(self.journal, tmp)
            os.replace(tmp, os.path.join(checkpoint_dir, JOURNAL_COPY))

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        copy = os.path.join(checkpoint_dir, JOURNAL_COPY)
        if self.journal and os.path.isfile(copy) and (
                not os.path.isfile(self.journal)
                or os.path.getsize(self.journal) < os.path.getsize(copy)):
            shutil.copyfile(copy, self.journal)
        super().restore_from_dir(checkpoint_dir)

    @property
    def multi_objective(self) -> bool:
        return isinstance(self.metric, list)

    @property
    def study(self) -> Any:
        """The Optuna study (created with the searcher)."""
        return self._ot_study

    def suggest(self, trial_id: str) -> dict | str | None:
        params = super().suggest(trial_id)
        too_large = repeats = 0
        while isinstance(params, dict):
            if self._too_large(trial_id, params):
                too_large += 1
                params = super().suggest(trial_id)
            elif (repeated := self._repeat(trial_id)) is not None:
                repeats += 1
                if repeats >= MAX_REJECTED:
                    logger.info("the sampler proposed only configurations already trained: "
                                "no more trials")
                    return Searcher.FINISHED
                params = self._ask_again(trial_id, repeated, repeats)
            else:
                break
            if too_large >= MAX_REJECTED:
                raise RuntimeError(f"{MAX_REJECTED} configurations in a row had more than "
                                   f"--max-params {self.max_params} parameters")
        trial = self._ot_trials.get(trial_id)
        if trial is not None and TUNE_ID_ATTR not in trial.user_attrs:
            trial.set_user_attr(TUNE_ID_ATTR, trial_id)
        return params

    def _too_large(self, trial_id: str, params: dict[str, Any]) -> bool:
        """Whether the configuration has more than `max_params` parameters; if so its Optuna
        trial is told PRUNED (with the count and the reason) and forgotten, so that the next
        `suggest` asks for another."""
        if self.max_params is None or self.count is None:
            return False
        n = self.count(params)
        if n <= self.max_params:
            return False
        trial = self._ot_trials.pop(trial_id)
        trial.set_user_attr(PARAMS, n)
        trial.set_user_attr(REJECTED_ATTR, f"{n:,} parameters > --max-params {self.max_params:,}")
        self._ot_study.tell(trial, state=TrialState.PRUNED)
        return True

    def _report(self, trial_id: str, result: dict | None) -> None:
        """Report the result's metric as the intermediate value at step = its epoch (once);
        nothing for a multi-objective study (Optuna takes no intermediate values there)."""
        if self.multi_objective or not result or self.metric not in result \
                or "epoch" not in result:
            return
        epoch = int(result["epoch"])
        done = self._reported.setdefault(trial_id, set())
        if epoch in done:
            return
        try:
            self._ot_trials[trial_id].report(float(result[self.metric]), epoch)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the Optuna journal", trial_id)
        done.add(epoch)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self._completed_trials:
            self._report(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        self._report(trial_id, result)
        value = self._value(result or {})
        epoch = int((result or {}).get("epoch", 0))
        if error or DIVERGED in (result or {}):
            state, value = TrialState.FAIL, None
        elif value is None or stopped_early(epoch, self.epochs):
            state, value = TrialState.PRUNED, None
        else:
            state = TrialState.COMPLETE
        try:
            self._ot_study.tell(self._ot_trials[trial_id], value, state=state)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the Optuna journal", trial_id)
        except ValueError as err:  # e.g. a NaN value
            logger.warning("could not tell Optuna trial %s: %s", trial_id, err)
        self._completed_trials.add(trial_id)
        self._reported.pop(trial_id, None)

    def _value(self, result: dict[str, Any]) -> Any:
        """The trial's objective value(s) in a result (None when one is missing)."""
        if not self.multi_objective:
            return result.get(self.metric)
        values = [result.get(m) for m in self.metric]
        return None if any(v is None for v in values) else [float(v) for v in values]

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self.fail_orphans()

    def fail_orphans(self) -> int:
        """Mark journal trials that are RUNNING but unknown to Tune as FAIL; returns how many."""
        known = {t.number for t in self._ot_trials.values()}
        orphans = [t for t in self._ot_study.get_trials(deepcopy=False,
                                                        states=(TrialState.RUNNING,))
                   if t.number not in known]
        for trial in orphans:
            try:
                self._ot_study.tell(trial.number, state=TrialState.FAIL)
            except (UpdateFinishedTrialError, ValueError, RuntimeError) as err:
                logger.info("could not close orphan Optuna trial %s: %s", trial.number, err)
        return len(orphans)

    def __repr__(self) -> str:
        return f"DurableOptunaSearch(metric={self._metric!r}, mode={self._mode!r})"
