"""Every `--sampler` builds a searcher that survives Ray's pickling (the Tuner's state and the
searcher snapshots Tune takes every few seconds) and samples again after unpickling."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import cloudpickle

from search.run.tuner import make_sampler
from search.study.journal import journal_storage
from search.study.searcher import DurableOptunaSearch
from spaces import load_space


@pytest.mark.parametrize("name", ["tpe", "random", "grid", "nsga2"])
def test_each_sampler_pickles_through_ray_and_samples_after(name: str, tmp_path: Path) -> None:
    space = load_space("prixfixe-grid", width="tiny")
    multi = name == "nsga2"  # the size-aware search: --objective r,params
    searcher = DurableOptunaSearch(
        space=space, metric=["best_val_pearson", "n_parameters"] if multi else "best_val_pearson",
        mode=["max", "min"] if multi else "max", sampler=make_sampler(name, 0, space),
        storage=journal_storage(tmp_path / "optuna.journal"), study_name="s", seed=0, epochs=2)
    first = searcher.suggest("a")
    copy = cloudpickle.loads(cloudpickle.dumps(searcher))
    second = copy.suggest("b")
    assert {"first", "core", "final", "strategy"} <= set(first) & set(second)
    assert type(copy._sampler) is type(searcher._sampler)
