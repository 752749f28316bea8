"""The search algorithm and the early-stopping rule.

ASHA's first rung comes after the learning-rate warm-up (`first_rung`). The OptunaSearch's
study lives in a journal file that may be ahead of Tune's saved state: after a lost driver,
Tune restores the searcher from its last snapshot while the Optuna journal (written on every
tell) may already record a trial as finished, or hold trials asked just before the kill.
Reporting to a finished trial would crash the resumed driver; orphans would show as RUNNING
forever in optuna-dashboard. `DurableOptunaSearch` tolerates the first and fails the second
on restore.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.strategies.optim import MAX_WARMUP_FRACTION, ONECYCLE_PCT_START

logger = logging.getLogger(__name__)

ASHA_REDUCTION = 3  # ASHA keeps the best third of the trials at each rung
# The longest LR warm-up of the built-in schedules, as a fraction of the run (One Cycle's
# pct_start; adam_warmup is capped there too): a trial is judged only after it.
WARMUP_FRACTION = max(ONECYCLE_PCT_START, MAX_WARMUP_FRACTION)


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


class DurableOptunaSearch(OptunaSearch):
    """OptunaSearch that survives a journal ahead of the restored searcher snapshot."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the Optuna journal", trial_id)

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


def study_counts(study: Any) -> dict[str, int]:
    """Trials per state of an Optuna study (for reports and tests)."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts
