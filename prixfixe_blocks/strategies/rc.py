"""Reverse-complement modes (strategy.rc): how training uses the second strand.

Prediction always averages the forward and reverse-complement strands; the mode says only what
a training batch holds. A mode is a small class registered in `RC_MODES`.
"""

from __future__ import annotations

import numpy as np

from prixfixe_blocks.strategies.components import Registry


class RCMode:
    """Base: which rows of a training batch are reverse-complemented."""

    # True: the batch is doubled, every row on both strands (the loss averages the two).
    both_strands: bool = False

    def training_flips(self, n: int, rng: np.random.Generator | None) -> np.ndarray:
        """(n,) bool: the rows to reverse-complement in a training batch (forward by default)."""
        return np.zeros(n, bool)


RC_MODES: Registry[type[RCMode]] = Registry("rc")


@RC_MODES.register("augment")
class Augment(RCMode):
    """A random strand per sample (Autosome.org)."""

    def training_flips(self, n: int, rng: np.random.Generator | None) -> np.ndarray:
        if rng is None:
            raise ValueError("rc augmentation needs an rng")
        return rng.random(n) < 0.5


@RC_MODES.register("both")
class Both(RCMode):
    """Every sample on both strands, loss averaged over the two (BHI)."""

    both_strands = True


@RC_MODES.register("none")
class Forward(RCMode):
    """The forward strand only (Unlock_DNA's tokens already hold both strands)."""
