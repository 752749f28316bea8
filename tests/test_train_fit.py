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
