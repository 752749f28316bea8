"""OptunaSearch whose study lives in a journal file that may be ahead of Tune's saved state.

After a lost driver, Tune restores the searcher from its last snapshot while the Optuna journal
(written on every tell) may already record a trial as finished, or hold trials asked just
before the kill. Reporting to a finished trial would crash the resumed driver; orphans would
show as RUNNING forever in optuna-dashboard. This subclass tolerates the first and fails the
second on restore.
"""

from __future__ import annotations

import logging
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

logger = logging.getLogger(__name__)


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
