"""A driver killed while Ray Tune copies its state to the storage path: the resumed search
restores every trial from the search's consistent copy instead of starting over.

Ray Tune writes each storage copy in place, so a SIGKILL mid-copy leaves an empty or truncated
file (seen while polling a running search); on it `Tuner.restore` logs "Failed to restore the
run state" and starts the experiment over (that run had 1 trial: "1 record of 6")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from prixfixe_blocks.errors import ConfigError
from search.experiment import TUNE_DIR, TUNE_STATE_FILE, ExperimentDir
from search.run.tune_state import (
    SnapshotSearchGenerator,
    prepare_tune_state,
    read_tune_state,
    tune_trials,
)

TRIALS = 4


class Counting(Searcher):
    """Suggests x = 0, 1, 2, ... (a searcher with state, as OptunaSearch has)."""

    def __init__(self) -> None:
        super().__init__(metric="score", mode="max")
        self.n = 0

    def suggest(self, trial_id: str) -> dict[str, Any]:
        self.n += 1
        return {"x": self.n}

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        """Nothing to learn."""

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps({"n": self.n}))

    def restore(self, checkpoint_path: str) -> None:
        self.n = json.loads(Path(checkpoint_path).read_text())["n"]


def trainable(config: dict[str, Any], marks: str) -> None:
    """Leaves one mark per run, so a trial run again is seen."""
    (Path(marks) / tune.get_context().get_trial_id()).touch()
    tune.report({"score": float(config["x"])})


@pytest.fixture(scope="module")
def ray_cpus() -> Any:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _finished_search(root: Path) -> tuple[ExperimentDir, Any]:
    exp = ExperimentDir(root)
    marks = root / "marks"
    marks.mkdir(parents=True)
    fn = tune.with_parameters(trainable, marks=str(marks))
    generator = SnapshotSearchGenerator(ConcurrencyLimiter(Counting(), max_concurrent=2), exp)
    tune.Tuner(fn, tune_config=tune.TuneConfig(search_alg=generator, num_samples=TRIALS),
               run_config=tune.RunConfig(name=TUNE_DIR, storage_path=str(root), verbose=0)).fit()
    return exp, fn


@pytest.mark.parametrize("torn", ["experiment_state-*.json", "search_gen_state-*.json"])
def test_a_torn_tune_state_is_restored_from_the_consistent_copy(
        ray_cpus: Any, tmp_path: Path, torn: str) -> None:
    exp, fn = _finished_search(tmp_path / "search")
    saved = tune_trials(read_tune_state(exp))
    assert len(saved) == TRIALS and set(saved.values()) == {"TERMINATED"}
    for path in Path(exp.tune_path).glob(torn):  # what a SIGKILL mid-copy leaves
        path.write_bytes(b"")

    prepare_tune_state(exp)
    results = tune.Tuner.restore(exp.tune_path, trainable=fn, resume_unfinished=True,
                                 resume_errored=True).fit()
    assert sorted(r.metrics["trial_id"] for r in results) == sorted(saved)
    assert len(list((exp.root / "marks").iterdir())) == TRIALS  # no trial ran again


def test_an_unreadable_tune_state_without_a_copy_is_refused(ray_cpus: Any,
                                                            tmp_path: Path) -> None:
    exp, _ = _finished_search(tmp_path / "search")
    exp.path(TUNE_STATE_FILE).unlink()  # a search from before the copy existed
    state = next(Path(exp.tune_path).glob("experiment_state-*.json"))
    state.write_text(state.read_text()[:100])
    with pytest.raises(ConfigError, match=state.name):
        prepare_tune_state(exp)
