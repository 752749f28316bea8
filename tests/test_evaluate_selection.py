"""Ensemble selection (greedy forward selection with replacement), the k-mer ridge saved as a
directory (no pickle), and weighted ensembles whose members include a ridge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prixfixe_blocks.errors import ConfigError, DataError
from prixfixe_blocks.evaluation import selection
from prixfixe_blocks.evaluation.ensemble import (
    RIDGE,
    any_trained_on,
    load_any_predictor,
    save_weighted_ensemble,
)
from prixfixe_blocks.evaluation.kmer_ridge import KmerRidge
from prixfixe_blocks.evaluation.kmers import N_FEATURES
from prixfixe_blocks.evaluation.ridge_io import (
    RIDGE_ARRAYS,
    RIDGE_FILE,
    load_kmer_ridge,
    save_kmer_ridge,
)
from prixfixe_blocks.evaluation.selection import TIE, mean_pearson, select_ensemble
from prixfixe_blocks.training.export import TrainedOn

SEQS = ["ACGTACGTTTGACCA" * 4, "GGGCATTACANNACG" * 4, "TTTTTAAAACCCGGG" * 4]


def _weighted_mean(preds: dict[str, np.ndarray], weights: dict[str, int]) -> np.ndarray:
    return sum(w * preds[k] for k, w in weights.items()) / sum(weights.values())


@pytest.mark.parametrize("case", range(12))
def test_selection_never_scores_below_its_best_member_on_validation(case: int) -> None:
    rng = np.random.default_rng(case)
    n, n_targets, n_cand = int(rng.integers(20, 300)), int(rng.integers(1, 4)), \
        int(rng.integers(1, 7))
    y = rng.normal(size=(n, n_targets))
    shared = rng.normal(size=(n, n_targets))  # candidates share some of their errors
    preds = {f"m{i}": y * rng.uniform(0, 1) + shared * rng.uniform(0, 2)
             + rng.normal(size=(n, n_targets)) * rng.uniform(0.1, 3) for i in range(n_cand)}
    rounds = int(rng.integers(1, 30))
    chosen = select_ensemble(preds, y, rounds=rounds)
    assert chosen.score >= max(chosen.single.values()) - 1e-12
    assert chosen.single == pytest.approx({k: mean_pearson(p, y) for k, p in preds.items()})
    # the reported score is the weighted ensemble's, and the weights are the best round's
    assert chosen.score == pytest.approx(mean_pearson(_weighted_mean(preds, chosen.weights), y))
    assert all(isinstance(w, int) and w > 0 for w in chosen.weights.values())
    size = sum(chosen.weights.values())  # the weights are the ensemble after round `size`
    assert len(chosen.history) == rounds and size <= rounds
    assert chosen.history[size - 1] == chosen.score
    assert max(chosen.history) <= chosen.score + TIE  # no later round was better


def test_complementary_members_are_mixed_and_beat_each_alone() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    preds = {"a": y + rng.normal(size=500), "b": y + rng.normal(size=500),
             "bad": rng.normal(size=500)}
    chosen = select_ensemble(preds, y)
    assert set(chosen.weights) == {"a", "b"}  # the uninformative one is never added
    assert chosen.score > max(chosen.single.values()) + 0.05
    assert chosen.describe().count(" x") == 2


def test_each_members_share_of_the_mix_is_reported_beside_its_weight() -> None:
    """A near-flat candidate (an undertrained trial) can take most rounds and be a small part
    of the prediction: the share (weight x spread, normalised) says so."""
    rng = np.random.default_rng(5)
    y = rng.normal(size=(300, 2))
    preds = {f"m{i}": y * rng.uniform(0.2, 1) + rng.normal(size=y.shape) for i in range(4)}
    preds["m3"] = 0.01 * preds["m3"] + 7.0  # barely spread
    chosen = select_ensemble(preds, y)
    assert chosen.weights["m3"] > sum(chosen.weights.values()) / 2  # most rounds ...
    assert chosen.shares["m3"] < 0.1  # ... a small part of the mix
    assert set(chosen.shares) == set(chosen.weights) and sum(chosen.shares.values()) == \
        pytest.approx(1.0)
    spread = {k: w * preds[k].std(axis=0).mean() for k, w in chosen.weights.items()}
    assert chosen.shares == pytest.approx({k: v / sum(spread.values()) for k, v in spread.items()})
    text = chosen.describe()
    assert text.endswith(f"m3 x{chosen.weights['m3']} ({chosen.shares['m3']:.0%})")  # smallest last


def test_candidates_below_half_the_best_are_left_out() -> None:
    """Library pruning: a weak candidate whose errors are its own gains a little on the
    validation rows, so the greedy would add it; scoring below PRUNE x the best, it is left
    out (and said so); when every candidate scores below 0 the best still stands."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=800)
    preds = {"good": y + rng.normal(size=800), "weak": 0.15 * y + rng.normal(size=800)}
    assert "weak" in select_ensemble(preds, y, prune=0).weights  # what pruning prevents
    chosen = select_ensemble(preds, y)
    assert chosen.weights == {"good": 1} and chosen.pruned == ("weak",)
    assert 0 < chosen.single["weak"] < selection.PRUNE * chosen.single["good"]
    negative = select_ensemble({"a": -y + rng.normal(size=800), "b": -y + rng.normal(
        size=800) * 3}, y)
    assert negative.weights == {"b": 1} and negative.pruned == ()  # the least bad: no floor


def test_the_ridge_alone_is_chosen_when_mixing_in_a_model_only_hurts() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=(400, 2))
    common = rng.normal(size=(400, 2)) * 5  # the models' shared error: no share of it helps
    preds = {"top1": y + common, "top2": y + common + rng.normal(size=(400, 2)) * 0.1,
             RIDGE: y + rng.normal(size=(400, 2)) * 0.5}
    chosen = select_ensemble(preds, y)
    assert chosen.best_single == RIDGE
    assert set(chosen.weights) == {RIDGE} and chosen.weights[RIDGE] == 1
    assert chosen.score == pytest.approx(chosen.single[RIDGE])


def test_selection_rejects_what_it_cannot_score() -> None:
    y = np.arange(10.0)
    with pytest.raises(ConfigError, match=r"m2 \(9, 1\)"):
        select_ensemble({"m1": y, "m2": y[:9]}, y)
    with pytest.raises(ConfigError, match="at least one candidate"):
        select_ensemble({}, y)
    with pytest.raises(ConfigError, match="no candidate has finite"):
        select_ensemble({"nan": np.full(10, np.nan)}, y)
    noisy = y + np.random.default_rng(0).normal(size=10)
    flat = select_ensemble({"flat": np.ones(10), "good": noisy}, y)  # a constant adds nothing
    assert flat.weights == {"good": 1} and flat.single["flat"] == 0.0


def _ridge(seed: int, targets: tuple[str, ...] = ("y",)) -> KmerRidge:
    rng = np.random.default_rng(seed)
    weights = np.vstack([rng.normal(size=(N_FEATURES, len(targets))),
                         np.zeros((1, len(targets)))])
    return KmerRidge(weights, rng.normal(size=len(targets)), targets, 4.0, 0.5, 123)


def test_a_saved_ridge_predicts_as_the_fitted_one_and_refuses_pickles(tmp_path: Path) -> None:
    ridge = _ridge(0, ("a", "b"))
    save_kmer_ridge(tmp_path / "r", ridge, TrainedOn("/data/x", (0,)))
    loaded = load_kmer_ridge(tmp_path / "r")
    np.testing.assert_allclose(loaded.predict(SEQS), ridge.predict(SEQS))
    assert loaded.targets == ("a", "b") and loaded.alpha == 4.0 and loaded.n_rows == 123
    assert any_trained_on(tmp_path / "r") == TrainedOn("/data/x", (0,))
    np.testing.assert_allclose(load_any_predictor(tmp_path / "r").predict(SEQS),
                               ridge.predict(SEQS))
    with (tmp_path / "r" / RIDGE_ARRAYS).open("wb") as handle:  # an object array needs pickle
        np.savez(handle, weights=np.array([object()] * 3), bias=np.zeros(2))
    with pytest.raises(DataError, match=RIDGE_ARRAYS):
        load_kmer_ridge(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / RIDGE_FILE).read_text())
    (tmp_path / "r" / RIDGE_FILE).write_text(json.dumps({**meta, "k": [1, 2, 3]}))
    with pytest.raises(DataError, match="field 'k'"):
        load_kmer_ridge(tmp_path / "r")


def test_a_weighted_ensemble_predicts_the_weighted_mean_and_can_move(tmp_path: Path) -> None:
    ens = tmp_path / "ens"
    ridges = [_ridge(1), _ridge(2)]
    dirs = [save_kmer_ridge(ens / f"r{i}", r, TrainedOn(f"/data/{i}", (1,)))
            for i, r in enumerate(ridges)]
    save_weighted_ensemble(ens, [(dirs[0], 3.0), (dirs[1], 1.0)], {"search": "s"})
    doc = json.loads((ens / "ensemble.json").read_text())
    assert doc["members"] == [{"path": "r0", "kind": RIDGE, "weight": 3.0},
                              {"path": "r1", "kind": RIDGE, "weight": 1.0}]
    expected = (3 * ridges[0].predict(SEQS) + ridges[1].predict(SEQS)) / 4
    np.testing.assert_allclose(load_any_predictor(ens).predict(SEQS), expected)
    assert any_trained_on(ens) == TrainedOn("/data/0", (1,))  # the first member's
    shutil.copytree(ens, tmp_path / "moved")
    np.testing.assert_allclose(load_any_predictor(tmp_path / "moved").predict(SEQS), expected)


def test_weighted_ensembles_are_checked(tmp_path: Path) -> None:
    ens = tmp_path / "ens"
    one = save_kmer_ridge(ens / "one", _ridge(1))
    other = save_kmer_ridge(ens / "two", _ridge(2, ("z",)))
    with pytest.raises(DataError, match="weights must be positive"):
        save_weighted_ensemble(ens, [(one, 0.0)])
    with pytest.raises(DataError, match="different targets"):
        save_weighted_ensemble(ens, [(one, 1.0), (other, 1.0)])
    with pytest.raises(DataError, match="not inside the ensemble directory"):
        save_weighted_ensemble(tmp_path / "elsewhere", [(one, 1.0)])
    (ens / "empty").mkdir()
    with pytest.raises(DataError, match="not a model or k-mer ridge directory"):
        save_weighted_ensemble(ens, [(ens / "empty", 1.0)])
    assert not (ens / "ensemble.json").exists()  # nothing half-written
    (ens / "ensemble.json").write_text(json.dumps(
        {"format_version": 2, "members": [{"path": "one", "kind": "svm", "weight": 1}]}))
    with pytest.raises(DataError, match="kind must be"):
        load_any_predictor(ens)
