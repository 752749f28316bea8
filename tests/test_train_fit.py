"""The one fit loop: best-epoch rule, resume from best.json, divergence is an error, not a score."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from prixfixe_blocks.errors import DivergedError
from prixfixe_blocks.training.fit import BEST_METRIC, Best, fit


class FakeTrainer:
    """Plays back (train_loss, val_pearson, val_mse) per epoch; records exports."""

    def __init__(self, epochs: list[tuple[float, float, float]], start: int = 0) -> None:
        self.plan, self.epoch, self.exported = epochs, start, []
        self.validates = True

    def train_epoch(self) -> dict[str, float]:
        self.epoch += 1
        return {"train_loss": self.plan[self.epoch - 1][0]}

    def evaluate(self) -> dict[str, float]:
        _, r, mse = self.plan[self.epoch - 1]
        return {"val_pearson": r, "val_mse": mse}

    def export(self, model_dir: Path) -> None:
        model_dir.mkdir(parents=True, exist_ok=True)
        self.exported.append(self.epoch)


def test_best_is_the_first_finite_score_then_any_higher(tmp_path: Path) -> None:
    trainer = FakeTrainer([(1.0, math.nan, 1.0), (0.9, -0.2, 1.0), (0.8, 0.3, 0.9),
                           (0.7, 0.1, 0.9)])
    seen: list[dict[str, Any]] = []
    best = fit(trainer, tmp_path / "best", epochs=4, on_epoch=lambda m, b: seen.append(m))
    assert (best.epoch, best.val_pearson) == (3, 0.3)
    assert trainer.exported == [2, 3]
    assert [m[BEST_METRIC] for m in seen] == [-1.0, -0.2, 0.3, 0.3]
    assert Best.load(tmp_path / "best") == best  # best.json beside the exported model


def test_resume_keeps_the_saved_best(tmp_path: Path) -> None:
    Best(2, 0.5).save(tmp_path)
    trainer = FakeTrainer([(1.0, 0.1, 1.0)] * 2 + [(0.5, 0.4, 1.0)], start=2)
    best = fit(trainer, tmp_path, epochs=3, on_epoch=lambda m, b: None)
    assert (best.epoch, best.val_pearson) == (2, 0.5) and trainer.exported == []


@pytest.mark.parametrize("epoch", [(math.nan, 0.1, 1.0), (1.0, 0.1, math.inf)])
def test_a_diverged_epoch_raises_and_is_never_reported(tmp_path: Path, epoch: tuple) -> None:
    trainer = FakeTrainer([(1.0, 0.2, 1.0), epoch])
    seen: list[dict[str, Any]] = []
    with pytest.raises(DivergedError, match="training diverged at epoch 2"):
        fit(trainer, tmp_path, epochs=2, on_epoch=lambda m, b: seen.append(m))
    assert [m["epoch"] for m in seen] == [1]


class FitOnlyTrainer(FakeTrainer):
    """A refit's trainer (train + val rows, nothing to validate on): evaluate must not run."""

    def __init__(self, losses: list[float], start: int = 0) -> None:
        super().__init__([(loss, math.nan, math.nan) for loss in losses], start)
        self.validates = False

    def evaluate(self) -> dict[str, float]:
        raise AssertionError("a trainer without validation rows was asked to validate")


def test_without_validation_the_last_epoch_is_exported_before_it_is_reported(
        tmp_path: Path) -> None:
    trainer = FitOnlyTrainer([1.0, 0.9, 0.8])
    seen: list[tuple[dict[str, Any], list[int]]] = []
    best = fit(trainer, tmp_path / "m", epochs=3,
               on_epoch=lambda m, b: seen.append((m, list(trainer.exported))))
    assert trainer.exported == [3] and best.epoch == 3
    assert seen[-1][1] == [3]  # exported before the last report (its checkpoint carries it)
    assert [m["epoch"] for m, _ in seen] == [1, 2, 3]
    assert all(BEST_METRIC not in m and "val_pearson" not in m for m, _ in seen)
    assert Best.load(tmp_path / "m").epoch == 3
    # a diverged refit still raises
    with pytest.raises(DivergedError):
        fit(FitOnlyTrainer([1.0, math.inf]), tmp_path / "d", epochs=2, on_epoch=lambda m, b: None)


def test_without_validation_a_resume_after_the_last_epoch_exports_once(tmp_path: Path) -> None:
    trainer = FitOnlyTrainer([1.0, 0.9], start=2)  # restored after its last epoch, not exported
    best = fit(trainer, tmp_path / "m", epochs=2, on_epoch=lambda m, b: None)
    assert trainer.exported == [2] and best.epoch == 2
    again = FitOnlyTrainer([1.0, 0.9], start=2)
    assert fit(again, tmp_path / "m", epochs=2, on_epoch=lambda m, b: None).epoch == 2
    assert again.exported == []  # its best.json says the last epoch is exported
