"""The one fit loop: epochs until the plan's count, each validated, the best epoch exported.

`prixfixe-search train` and every search trial run this loop, so both keep the same best epoch:
the first finite validation Pearson, then any higher one. What happens after an epoch (MLflow
metrics, a checkpoint, a Tune report) is the caller's `on_epoch`, called after the bookkeeping
is done (a Tune report may not return when a scheduler stops the trial). A diverged epoch (a
non-finite loss or prediction) raises DivergedError before it is reported, so it is never scored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.errors import DataError, DivergedError
from prixfixe_blocks.training.metrics import BEST_METRIC

BEST_FILE = "best.json"  # beside the best epoch's exported model: its epoch and val_pearson
NO_SCORE = -1.0  # the best score before any finite one (Pearson's floor)
# Numeric per-epoch results: what MLflow, the trial record and the leaderboard keep.
EPOCH_METRICS: tuple[str, ...] = (
    "val_pearson", BEST_METRIC, "val_spearman", "val_mse", "train_loss", "train_loss_aux",
    "seqs_per_s", "lr",
)


@dataclass
class Best:
    """The best epoch so far (epoch 0: none yet) and its validation Pearson."""

    epoch: int = 0
    val_pearson: float = NO_SCORE

    def update(self, val_pearson: float, epoch: int) -> bool:
        """Record an epoch's validation Pearson; True when it is the new best."""
        if math.isfinite(val_pearson) and (self.epoch == 0 or val_pearson > self.val_pearson):
            self.epoch, self.val_pearson = epoch, float(val_pearson)
            return True
        return False

    def save(self, model_dir: Path) -> None:
        """Write best.json into the exported model's directory."""
        atomic_write_text(model_dir / BEST_FILE, json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, model_dir: Path) -> Best:
        """best.json of a model directory (none yet when the directory has no best.json)."""
        path = model_dir / BEST_FILE
        if not path.is_file():
            return cls()
        try:
            doc = json.loads(path.read_text())
            return cls(int(doc["epoch"]), float(doc["val_pearson"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise DataError(f"unreadable ({err})", path=str(path)) from None


def fit(trainer: Any, best_dir: Path, *, epochs: int,
        on_epoch: Callable[[dict[str, Any], Best], None],
        before_epoch: Callable[[int], None] | None = None) -> Best:
    """Train `trainer` until `epochs`, exporting each new best epoch into `best_dir`.

    Resumes from `trainer.epoch` and the best.json already in `best_dir`. A run whose every
    validation score was not finite exports its last weights (its best stays epoch 0). A
    trainer that does not validate (`trainer.validates` False: a refit on train + val) exports
    its last epoch, before that epoch is reported, as best epoch with no score (NO_SCORE).
    """
    best = Best.load(best_dir)
    while trainer.epoch < epochs:
        if before_epoch is not None:
            before_epoch(trainer.epoch + 1)
        metrics = trainer.train_epoch()
        if trainer.validates:
            metrics.update(trainer.evaluate())
        check_finite(metrics, trainer.epoch)
        if trainer.validates:
            if best.update(metrics["val_pearson"], trainer.epoch):
                _export(trainer, best_dir, best)
            metrics.update({BEST_METRIC: best.val_pearson, "best_epoch": best.epoch})
        elif trainer.epoch == epochs:
            best = _export(trainer, best_dir, Best(trainer.epoch))
        on_epoch({"epoch": trainer.epoch, **metrics}, best)
    if not trainer.validates:
        if best.epoch != trainer.epoch:  # resumed after its last epoch, before the export
            best = _export(trainer, best_dir, Best(trainer.epoch))
    elif best.epoch == 0:
        trainer.export(best_dir)
    return best


def _export(trainer: Any, best_dir: Path, best: Best) -> Best:
    """Export the trainer's model with `best` as its best.json."""
    trainer.export(best_dir)
    best.save(best_dir)
    return best


def check_finite(metrics: dict[str, Any], epoch: int) -> None:
    """DivergedError when the training loss or the validation predictions (if validated) are
    not finite (a constant prediction's undefined Pearson is not divergence; its MSE stays
    finite)."""
    loss, mse = float(metrics["train_loss"]), float(metrics.get("val_mse", 0.0))
    if not (math.isfinite(loss) and math.isfinite(mse)):
        raise DivergedError(f"training diverged at epoch {epoch}: train_loss {loss}, val_mse "
                            f"{mse} (try a lower strategy.lr, or strategy.grad_clip)")
