"""Per-member affine calibration of a weighted ensemble: what makes validated weights transfer.

Refit chooses an ensemble's weights on the validation predictions of stand-ins (each
configuration's search model, a ridge fitted on the train rows) and applies them to other
models (the configuration retrained on train + val, the ridge refitted there). Pearson ignores
scale, so a weight only means "this share of the mix's spread" for the model it was chosen on:
a refit model whose predictions spread 7x wider than its stand-in's takes 7x the share that was
validated (measured on the simulated suite), and a collapsed (near-constant) stand-in's weight
only rescales the others. So each member is mapped, per target, onto its stand-in's mean and
standard deviation on the validation rows: scale = sd(stand-in) / sd(member), capped at
`MAX_SCALE` (a collapsed member is not blown up into noise), shift = mean(stand-in) - scale *
mean(member). A configuration refit with several seeds is one member of the mix: the mean of
its seeds is calibrated, and the same map applies to each seed. A refit model's validation
predictions are in-sample; only their mean and spread are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from prixfixe_blocks.errors import DataError
from prixfixe_blocks.evaluation.selection import as_columns

MAX_SCALE = 10.0  # the most a member's spread is stretched to match its stand-in's
_FLAT = 1e-12  # a standard deviation at or below this is a constant prediction


@dataclass(frozen=True)
class Calibration:
    """prediction * scale + shift, per target column."""

    scale: tuple[float, ...]
    shift: tuple[float, ...]

    def apply(self, pred: np.ndarray) -> np.ndarray:
        """The calibrated predictions of an (N, n_targets) array."""
        return np.asarray(pred, np.float64) * np.asarray(self.scale) + np.asarray(self.shift)

    def to_json(self) -> dict[str, list[float]]:
        return {"scale": list(self.scale), "shift": list(self.shift)}

    @classmethod
    def from_json(cls, doc: dict[str, Any], n_targets: int, where: str) -> Calibration | None:
        """The calibration kept in a member entry (None: the entry has none); DataError naming
        `where` when it is malformed."""
        if "scale" not in doc and "shift" not in doc:
            return None
        try:
            scale = tuple(float(v) for v in doc["scale"])
            shift = tuple(float(v) for v in doc["shift"])
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"calibration unreadable ({err})", path=where,
                            field="members") from None
        values = scale + shift
        if len(scale) != n_targets or len(shift) != n_targets or not all(
                math.isfinite(v) for v in values) or min(scale) < 0:
            raise DataError(f"calibration needs {n_targets} finite scales (>= 0) and shifts, "
                            f"got scale {list(scale)} and shift {list(shift)}", path=where,
                            field="members")
        return cls(scale, shift)


def calibrate(stand_in: np.ndarray, own: np.ndarray) -> Calibration:
    """The map giving `own`'s predictions `stand_in`'s mean and spread on the same rows
    ((N, n_targets) or (N,) arrays)."""
    ref, mine = as_columns(stand_in), as_columns(own)
    if ref.shape != mine.shape or len(ref) < 2:
        raise ValueError(f"calibration needs two matching prediction arrays of at least 2 rows, "
                         f"got {ref.shape} and {mine.shape}")
    sd_ref, sd_own = ref.std(axis=0), mine.std(axis=0)
    scale = np.where(sd_ref <= _FLAT, 0.0,
                     np.minimum(sd_ref / np.maximum(sd_own, _FLAT), MAX_SCALE))
    shift = ref.mean(axis=0) - scale * mine.mean(axis=0)
    return Calibration(tuple(float(v) for v in scale), tuple(float(v) for v in shift))
