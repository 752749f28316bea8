"""ASHA's rungs and the search clock survive a resume; GPU-first trial resources."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from prixfixe_blocks.errors import ConfigError
from search.experiment import CLOCK_FILE, TRIALS_FILE, ExperimentDir
from search.run import resources
from search.run.resources import autoscaler_gpus, trial_gpus
from search.run.resumable import SearchClock
from search.run.tuner import make_scheduler
from search.trial.trainable import METRIC
from tests.conftest import REPO


def _trial(trial_id: str, epoch: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, last_result={"epoch": epoch} if epoch else {})


def _history(*values: float) -> dict:
    return {"history": [{"epoch": e + 1, METRIC: v} for e, v in enumerate(values)]}


def test_resumed_asha_judges_new_trials_against_the_old_rungs(tmp_path: Path) -> None:
    exp = ExperimentDir(tmp_path)
    exp.write_json(TRIALS_FILE, {"a": _history(0.9, 0.92, 0.95), "b": _history(0.5),
                                 "c": _history(0.7, 0.71), "lost": _history(0.99)})
    asha = make_scheduler("asha", 9, grace_period=1, exp=exp)  # rungs at epochs 1, 3, 9
    asha.set_search_properties(METRIC, "max")
    # as Tune re-adds restored trials: a at epoch 3, b stopped at 1, c restored at epoch 1 (its
    # epoch-2 record came after Tune's last snapshot); "lost" is unknown to Tune: not added
    for trial in (_trial("a", 3), _trial("b", 1), _trial("c", 1)):
        asha.on_trial_add(None, trial)
    assert asha.rungs() == [(1, {"a": 0.9, "b": 0.5, "c": 0.7}), (3, {"a": 0.95}), (9, {})]

    new, result = _trial("d"), {"epoch": 1, METRIC: 0.6}
    asha.on_trial_add(None, new)
    assert asha.on_trial_result(None, new, result) == TrialScheduler.STOP  # below 0.767
    plain = ASHAScheduler(time_attr="epoch", max_t=9, grace_period=1, reduction_factor=3)
    plain.set_search_properties(METRIC, "max")
    for trial in (_trial("a", 3), _trial("b", 1), _trial("c", 1), new):
        plain.on_trial_add(None, trial)
    assert plain.on_trial_result(None, new, result) == TrialScheduler.CONTINUE  # empty rungs


def test_search_clock_counts_every_driver(tmp_path: Path) -> None:
    exp = ExperimentDir(tmp_path)
    exp.write_json(CLOCK_FILE, {"elapsed_s": 100.0})
    assert SearchClock(exp, 100.0).stop_all()  # the budget was spent by the first driver
    clock = pickle.loads(pickle.dumps(SearchClock(exp, 130.0)))  # as Tune restores it
    assert not clock.stop_all()
    assert 29.0 < clock.left() <= 30.0
    assert "100 s used before this driver, 30 s left" in clock.describe()
    clock.save(force=True)
    assert exp.read_json(CLOCK_FILE)["elapsed_s"] >= 100.0
    clock.halt("the dataset changed")
    assert clock.stop_all()


def test_gpu_first_trial_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert autoscaler_gpus(REPO / "ray_cluster.yaml") == 8.0  # 0..8 g5 workers, 1 GPU each
    assert autoscaler_gpus(REPO / "no-such-config.yaml") is None
    monkeypatch.setattr(resources.ray, "cluster_resources", lambda: {"CPU": 4.0})
    assert trial_gpus(0.5, "auto") == 0.5 and trial_gpus(0, "auto") == 0.0
    assert trial_gpus(None, None) == 0.0  # embedded Ray on a machine without GPUs
    monkeypatch.setattr(resources, "autoscaler_gpus", lambda: 8.0)
    assert trial_gpus(None, "auto") == 1.0  # the autoscaler starts GPU workers for them
    monkeypatch.setattr(resources, "autoscaler_gpus", lambda: 0.0)
    assert trial_gpus(None, "auto") == 0.0
    monkeypatch.setattr(resources, "autoscaler_gpus", lambda: None)
    with pytest.raises(ConfigError, match="--gpus-per-trial 0 to run the trials on CPUs"):
        trial_gpus(None, "auto")
    monkeypatch.setattr(resources.ray, "cluster_resources", lambda: {"GPU": 2.0})
    assert trial_gpus(None, "auto") == 1.0
