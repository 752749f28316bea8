"""OptunaSearch whose study lives in a journal file that may be ahead of Tune's saved state.

After a lost driver, Tune restores the searcher from its last snapshot while the Optuna journal
(written on every tell) may already record a trial as finished, or hold trials asked just
before the kill. Reporting to a finished trial would crash the resumed driver; orphans would
show as RUNNING forever in optuna-dashboard. This subclass tolerates the first and fails the
second on restore.

The journal's reader state (byte offsets of its lines) is pickled with the searcher, so the
journal a restored searcher reads must contain the one it was saved with. Each time Tune saves
the searcher into its experiment directory (which it copies to --storage), a copy of the journal
goes with it; on restore, that copy replaces a local journal that is shorter (a driver on
another machine, or a stale mirror of an object store), and a local journal that is ahead of
it (same machine) is kept.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

logger = logging.getLogger(__name__)
# Beside Tune's searcher checkpoint; JSON lines, named .json because Tune restores only the
# .json and .pkl files of its experiment directory.
JOURNAL_COPY = "optuna-journal-copy.json"


class DurableOptunaSearch(OptunaSearch):
    """OptunaSearch that survives a journal ahead of (or behind) the restored searcher snapshot;
    `journal` is the path of the study's journal file."""

    def __init__(self, *args: Any, journal: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.journal = journal

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
