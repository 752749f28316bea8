"""Targets (strategy.target): raw target values -> a loss on a head's outputs; outputs -> a
prediction. Each is a `Target` subclass registered in `TARGETS`.

Stats per target are (mean, std) or (mean, std, min, max) (the observed range, optional).

- "softbin" (Autosome.org): 18-bin soft classification *per target*. A value y is first put on
  the 0-17 bin scale by an affine map b = slope * y + offset: with a range, [min, max] -> [0, 17]
  (the identity for DREAM's 0-17 mean-bin labels, as published); with only (mean, std), the
  z-score is placed at 11 + 3 z (the DREAM labels' centre and spread); without stats, the
  identity. True expression is assumed ~ Normal(b + 0.5, 0.5); bin i takes the mass in [i, i+1)
  (bin 0 takes (-inf, 1), bin 17 takes [17, inf)); loss = KL divergence, mean over samples and
  targets; prediction = expected bin mapped back. So multi-target data (e.g. DeepSTARR) works,
  each target with its own 18 bins on its own scale.
- "huber" / "mse": the head predicts the standardized target (y - mean) / std; default (0, 1).

Stats are buffers, so a saved state dict carries them with the weights.

Every target also says where a fresh head should start (`head_bias`): the raw outputs whose
decoding is the training labels' distribution (regression: the mean standardized label;
softbin: the log of the labels' mean soft-bin distribution). A head started there predicts the
label mean from step 0 instead of spending its first epoch lifting a common offset, which
showed as a large, arbitrary-signed epoch-1 Pearson that early stopping then acted on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.strategies.components import Registry

N_BINS = 18
BIN_MEAN, BIN_SD = 11.0, 3.0  # the DREAM scale that softbin's bins live on
SOFT_SD = 0.5  # sd of the assumed Normal around a label (in bins)
MIN_BIN_MASS = 1e-6  # floor of an empty bin's initial probability (its log stays finite)

Stats = Sequence[tuple[float, ...]]


class Target(nn.Module):
    """Base: `n_outputs` head outputs per sample, `loss(outputs, y)`, `decode(outputs)`."""

    name: str = ""

    def __init__(self, n_targets: int, stats: Stats | None, default: tuple[float, float]) -> None:
        super().__init__()
        if n_targets < 1:
            raise ConfigError(f"target '{self.name}': n_targets must be >= 1, got {n_targets}")
        stats = [default] * n_targets if stats is None else [tuple(map(float, s)) for s in stats]
        if len(stats) != n_targets:
            raise ConfigError(
                f"target '{self.name}': {len(stats)} (mean, std) stats for {n_targets} targets"
            )
        for entry in stats:
            _check_stats(self.name, entry)
        self.n_targets = n_targets
        self.stats = stats
        self.register_buffer("mean", torch.tensor([s[0] for s in stats]))
        self.register_buffer("std", torch.tensor([s[1] for s in stats]))

    @property
    def n_outputs(self) -> int:
        """Outputs the head must produce per sample."""
        return self.n_targets

    def standardize(self, y: Tensor) -> Tensor:
        """(y - mean) / std per target column."""
        return (y - self.mean) / self.std

    def unstandardize(self, z: Tensor) -> Tensor:
        """Inverse of `standardize`."""
        return z * self.std + self.mean

    def loss(self, outputs: Tensor, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, outputs: Tensor) -> Tensor:
        """Predictions (B, n_targets) on the original target scale."""
        return self.unstandardize(outputs)

    def head_bias(self, labels: Tensor) -> Tensor | None:
        """Raw outputs (n_outputs,) that decode to the distribution of `labels` (rows, n_targets):
        a fresh head's output bias. Default: the mean standardized label per target (None when
        the head has other than one output per target; such a target overrides this)."""
        if self.n_outputs != self.n_targets:
            return None
        return self.standardize(_as_labels(labels, self.n_targets)).mean(0)


TARGETS: Registry[type[Target]] = Registry("target")


class RegressionTarget(Target):
    """Base of losses on the standardized target (default stats (0, 1))."""

    def __init__(self, n_targets: int, stats: Stats | None) -> None:
        super().__init__(n_targets, stats, (0.0, 1.0))

    def loss(self, outputs: Tensor, y: Tensor) -> Tensor:
        z = self.standardize(y.float())  # losses in float32, also under autocast
        return self.regression_loss(outputs.float(), z)

    def regression_loss(self, outputs: Tensor, z: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError


@TARGETS.register("huber")
class HuberTarget(RegressionTarget):
    """Huber loss (delta 1) on the standardized target (BHI)."""

    name = "huber"

    def regression_loss(self, outputs: Tensor, z: Tensor) -> Tensor:
        return F.huber_loss(outputs, z, delta=1.0)


@TARGETS.register("mse")
class MSETarget(RegressionTarget):
    """Mean squared error on the standardized target (Unlock_DNA)."""

    name = "mse"

    def regression_loss(self, outputs: Tensor, z: Tensor) -> Tensor:
        return F.mse_loss(outputs, z)


@TARGETS.register("softbin")
class SoftBinTarget(Target):
    """18-bin soft classification per target (see the module docstring)."""

    name = "softbin"

    def __init__(self, n_targets: int, stats: Stats | None) -> None:
        super().__init__(n_targets, stats, (BIN_MEAN, BIN_SD))
        self.register_buffer("bins", torch.arange(N_BINS, dtype=torch.float32), persistent=False)
        maps = [_bin_map(entry) for entry in self.stats]
        self.register_buffer("slope", torch.tensor([a for a, _ in maps]))
        self.register_buffer("offset", torch.tensor([c for _, c in maps]))

    @property
    def n_outputs(self) -> int:
        return self.n_targets * N_BINS

    def to_bins(self, y: Tensor) -> Tensor:
        """Target values -> positions on the 0-17 bin scale."""
        return y * self.slope + self.offset

    def soft_labels(self, y: Tensor) -> Tensor:
        """(B, n_targets) values -> (B, n_targets, 18) bin probabilities."""
        centre = self.to_bins(y.float()).unsqueeze(-1) + 0.5
        lower = torch.special.ndtr((self.bins - centre) / SOFT_SD)
        upper = torch.special.ndtr((self.bins + 1.0 - centre) / SOFT_SD)
        lower[..., 0] = 0.0
        upper[..., -1] = 1.0
        return (upper - lower).clamp_min(0.0)

    def _log_probs(self, outputs: Tensor) -> Tensor:
        return F.log_softmax(outputs.float().view(outputs.shape[0], self.n_targets, N_BINS), -1)

    def loss(self, outputs: Tensor, y: Tensor) -> Tensor:
        log_p = self._log_probs(outputs)
        kl = F.kl_div(log_p, self.soft_labels(y), reduction="sum")
        return kl / (outputs.shape[0] * self.n_targets)

    def decode(self, outputs: Tensor) -> Tensor:
        expected = (self._log_probs(outputs).exp() * self.bins).sum(-1)
        return (expected - self.offset) / self.slope

    def head_bias(self, labels: Tensor) -> Tensor:
        """Log of the labels' mean soft-bin distribution per target (flattened like the head's
        outputs): softmax of it is the binned training-label distribution."""
        dist = self.soft_labels(_as_labels(labels, self.n_targets)).mean(0)
        return dist.clamp_min(MIN_BIN_MASS).log().reshape(-1)


def _as_labels(labels: Tensor, n_targets: int) -> Tensor:
    """Labels as float32 (rows, n_targets) with at least one row (ConfigError otherwise)."""
    labels = labels.float().reshape(-1, n_targets)
    if labels.shape[0] == 0:
        raise ConfigError("no training labels to start the head from")
    return labels


def _check_stats(name: str, entry: tuple[float, ...]) -> None:
    if len(entry) not in (2, 4):
        raise ConfigError(f"target '{name}': stats {entry} must be (mean, std) or "
                          "(mean, std, min, max)")
    if not entry[1] > 0:
        raise ConfigError(f"target '{name}': every target std must be > 0, got {entry}")
    if len(entry) == 4 and not entry[3] > entry[2]:
        raise ConfigError(f"target '{name}': max must be > min, got {entry}")


def _bin_map(entry: tuple[float, ...]) -> tuple[float, float]:
    """(slope, offset) putting a target on the bin scale (see the module docstring)."""
    if len(entry) == 4:
        slope = (N_BINS - 1) / (entry[3] - entry[2])
        return slope, -entry[2] * slope
    slope = BIN_SD / entry[1]
    return slope, BIN_MEAN - entry[0] * slope


def make_target(name: str, n_targets: int = 1, stats: Stats | None = None) -> Target:
    """The target strategy `name` for `n_targets` columns; stats: (mean, std[, min, max]) each."""
    return TARGETS.get(name)(n_targets, stats)
