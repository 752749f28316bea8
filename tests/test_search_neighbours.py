"""The fallback after a repeat: an untried neighbour (one parameter changed) of the repeated
configuration, else of the best trained one, with a new block's parameters left to the sampler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.study.journal import journal_storage, load_study
from search.study.objectives import REPEAT_ATTR, was_trained
from search.study.repeats import neighbour_values
from search.study.searcher import DurableOptunaSearch
from tests.search_support import StuckSampler

METRIC = "best_val_pearson"
FAVOURITE = {"block": "x", "x.width": 3, "colour": "red"}  # what the stuck sampler proposes
STUCK = {**FAVOURITE, "y.depth": "deep"}  # (and `deep` when y is chosen)


def space(trial: optuna.Trial) -> None:
    """A block choice with a conditional parameter each, and an unconditional choice."""
    if trial.suggest_categorical("block", ["x", "y"]) == "x":
        trial.suggest_int("x.width", 1, 5)
    else:
        trial.suggest_categorical("y.depth", ["shallow", "deep"])
    trial.suggest_categorical("colour", ["red", "green", "blue"])


def score(config: dict[str, Any]) -> float:
    """A made-up objective: green is best, then wider x."""
    return (config["colour"] == "green") + 0.1 * config.get("x.width", 0)


def differing(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    """Names whose values differ (or that only one of the two has)."""
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def run_search(tmp_path: Path, trials: int) -> list[dict[str, Any]]:
    tmp_path.mkdir(exist_ok=True)
    searcher = DurableOptunaSearch(space=space, metric=METRIC, mode="max", epochs=1, seed=3,
                                   storage=journal_storage(tmp_path / "j.journal"),
                                   study_name="s", sampler=StuckSampler(STUCK))
    configs = []
    for index in range(trials):
        config = searcher.suggest(f"t{index}")
        assert isinstance(config, dict)
        configs.append(config)
        searcher.on_trial_complete(f"t{index}", {"epoch": 1, METRIC: score(config)})
    return configs


def test_neighbours_change_one_parameter_of_the_repeat_then_of_the_best(tmp_path: Path) -> None:
    configs = run_search(tmp_path, 7)
    assert configs[0] == FAVOURITE
    assert len({tuple(sorted(c.items())) for c in configs}) == len(configs)  # all distinct
    # FAVOURITE's neighbours: width 2 or 4, green or blue; then block y (depth from the sampler).
    first = configs[1:6]
    assert all(len(differing(c, FAVOURITE)) == 1 for c in first if c["block"] == "x")
    assert {c.get("x.width") for c in first} >= {2, 4}
    assert {c["colour"] for c in first} >= {"green", "blue"}
    moved = [c for c in first if c["block"] == "y"]
    assert moved == [{"block": "y", "y.depth": "deep", "colour": "red"}]
    # No untried neighbour of FAVOURITE is left: the next is one of the best trained trial
    # (x, width 3, green), so it differs from it in exactly one parameter (or is block y).
    best = max(configs[:6], key=score)
    assert best == {"block": "x", "x.width": 3, "colour": "green"}
    assert len(differing(configs[6], best)) == 1 or configs[6]["block"] == "y"
    study = load_study(tmp_path / "j.journal", "s")
    assert sum(was_trained(t) for t in study.trials) == 7
    repeats = [t for t in study.trials if REPEAT_ATTR in t.user_attrs]
    assert len(repeats) == 6 and {t.state.name for t in repeats} == {"FAIL"}
    assert all(t.values is None and not t.intermediate_values for t in repeats)


def test_the_same_seed_draws_the_same_neighbours(tmp_path: Path) -> None:
    assert run_search(tmp_path / "a", 6) == run_search(tmp_path / "b", 6)


@pytest.mark.parametrize(("value", "dist", "expected"), [
    ("a", CategoricalDistribution(["a", "b", "c"]), ["b", "c"]),
    (3, IntDistribution(1, 5), [2, 4]),
    (1, IntDistribution(1, 9, step=2), [3]),
    (8, IntDistribution(1, 1024, log=True), [4, 16]),
    (0.5, FloatDistribution(0.0, 1.0), [0.4, 0.6]),
    (1e-3, FloatDistribution(1e-4, 1e-2, log=True), [1e-3 / 10 ** 0.2, 1e-3 * 10 ** 0.2]),
])
def test_neighbour_values_stay_within_the_distribution(value: Any, dist: Any,
                                                       expected: list[Any]) -> None:
    assert neighbour_values(value, dist) == pytest.approx(expected)
