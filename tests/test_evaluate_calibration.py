"""Per-member calibration of a weighted ensemble: each member mapped onto its stand-in's mean
and spread, kept in ensemble.json, applied by `load_any_predictor`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prixfixe_blocks.errors import DataError
from prixfixe_blocks.evaluation.calibration import MAX_SCALE, Calibration, calibrate
from prixfixe_blocks.evaluation.ensemble import load_any_predictor, save_weighted_ensemble
from prixfixe_blocks.evaluation.kmer_ridge import KmerRidge
from prixfixe_blocks.evaluation.kmers import N_FEATURES
from prixfixe_blocks.evaluation.ridge_io import save_kmer_ridge
from prixfixe_blocks.evaluation.selection import mean_pearson, select_ensemble

SEQS = ["ACGTACGTTTGACCA" * 4, "GGGCATTACANNACG" * 4, "TTTTTAAAACCCGGG" * 4]


def test_a_calibrated_member_has_its_stand_ins_mean_and_spread_per_target() -> None:
    rng = np.random.default_rng(0)
    stand_in = rng.normal([5.0, -1.0], [0.3, 2.0], size=(200, 2))
    own = 7 * stand_in + rng.normal(size=(200, 2)) + 40  # spread 7x wider, elsewhere
    calibrated = calibrate(stand_in, own).apply(own)
    np.testing.assert_allclose(calibrated.mean(0), stand_in.mean(0), atol=1e-9)
    np.testing.assert_allclose(calibrated.std(0), stand_in.std(0), rtol=1e-9)
    assert mean_pearson(calibrated, stand_in) == pytest.approx(mean_pearson(own, stand_in))


def test_collapsed_stand_ins_and_members_are_not_blown_up() -> None:
    rng = np.random.default_rng(1)
    varied = rng.normal(size=(50, 1))
    flat = np.full((50, 1), 3.0)
    to_flat = calibrate(flat, varied)  # its weight was validated as a constant
    assert to_flat.scale == (0.0,)
    np.testing.assert_allclose(to_flat.apply(varied), 3.0)
    nearly_flat = 1e-6 * varied + 2.0  # a collapsed refit model: stretched at most MAX_SCALE
    assert calibrate(varied, nearly_flat).scale == (MAX_SCALE,)
    with pytest.raises(ValueError, match="matching"):
        calibrate(varied, varied[:10])


def test_calibration_repairs_weights_moved_to_a_rescaled_model() -> None:
    """The failure it exists for: weights chosen on stand-ins, applied to refit models whose
    spread differs (one 7x wider, one collapsed stand-in used as a scale knob): uncalibrated, the
    mix drifts from the validated one; calibrated, it reproduces it."""
    rng = np.random.default_rng(2)
    truth = rng.normal(size=(300, 1))
    good = truth + rng.normal(scale=0.8, size=truth.shape)
    weak = truth + rng.normal(scale=1.2, size=truth.shape)
    flat = np.full_like(truth, 1.0) + 1e-3 * rng.normal(size=truth.shape)
    stand_ins = {"good": good, "weak": weak, "flat": flat}
    chosen = select_ensemble(stand_ins, truth)
    refit = {"good": good, "weak": 7 * weak, "flat": 50 * flat}

    def mix(preds: dict[str, np.ndarray]) -> np.ndarray:
        return sum(w * preds[k] for k, w in chosen.weights.items()) / sum(
            chosen.weights.values())

    calibrated = {k: calibrate(stand_ins[k], p).apply(p) for k, p in refit.items()}
    assert mean_pearson(mix(calibrated), truth) == pytest.approx(chosen.score, abs=1e-9)
    assert "weak" in chosen.weights and mean_pearson(mix(refit), truth) < chosen.score - 0.01


def _ridge(seed: int) -> KmerRidge:
    rng = np.random.default_rng(seed)
    weights = np.vstack([rng.normal(size=(N_FEATURES, 2)), np.zeros((1, 2))])
    return KmerRidge(weights, rng.normal(size=2), ("a", "b"), 4.0, 0.5, 10)


def test_ensemble_json_keeps_each_members_calibration_and_checks_it(tmp_path: Path) -> None:
    ens = tmp_path / "ens"
    ridges = [_ridge(1), _ridge(2)]
    dirs = [save_kmer_ridge(ens / f"r{i}", r) for i, r in enumerate(ridges)]
    cal = Calibration((2.0, 0.5), (1.0, -3.0))
    save_weighted_ensemble(ens, [(dirs[0], 3.0), (dirs[1], 1.0)], {}, [cal, None])
    members = json.loads((ens / "ensemble.json").read_text())["members"]
    assert members[0]["scale"] == [2.0, 0.5] and "scale" not in members[1]
    expected = (3 * cal.apply(ridges[0].predict(SEQS)) + ridges[1].predict(SEQS)) / 4
    np.testing.assert_allclose(load_any_predictor(ens).predict(SEQS), expected)
    with pytest.raises(DataError, match="calibration for 1 targets"):
        save_weighted_ensemble(ens, [(dirs[0], 1.0)], {}, [Calibration((1.0,), (0.0,))])
    doc = json.loads((ens / "ensemble.json").read_text())  # unchanged by the refused save
    doc["members"][0]["scale"] = [2.0, "wide"]
    (ens / "ensemble.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"ensemble.json member 0.*calibration unreadable"):
        load_any_predictor(ens)
    doc["members"][0]["scale"] = [-1.0, 1.0]
    (ens / "ensemble.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="finite scales"):
        load_any_predictor(ens)
