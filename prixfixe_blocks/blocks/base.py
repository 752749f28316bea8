"""The block contract shared by the three roles (first layers, core, final layers).

A block is built from its typed config and the shape of what it receives; it never hard-wires its
output width: `output_shape()` is computed by a dummy forward. Between blocks, features are
channels-first float maps (batch, channels, length); only a first block may receive tokens
(batch, length) of int64 codes. A map may start with `n_pseudo` pseudo-expression positions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from prixfixe_blocks.shapes import FEATURES, TOKENS, VECTOR, Shape
from prixfixe_blocks.strategies.targets import Target

Batch = dict[str, Tensor]


@dataclass(frozen=True)
class Want:
    """What a block needs of its input; compose inserts adapters to provide it.

    kinds: the input kinds it takes; channels: an exact width (a projection is inserted when the
    input differs), None = any; n_pseudo: pseudo tokens it reads (made by attention pooling when
    the input has none), 0 = none needed.
    """

    kinds: tuple[str, ...] = (FEATURES,)
    channels: int | None = None
    n_pseudo: int = 0


class FinalStep(NamedTuple):
    """A final block's training step: predictions (original scale), main loss, auxiliary loss."""

    prediction: Tensor
    loss: Tensor
    aux_loss: Tensor | None


def dummy_input(shape: Shape, batch: int = 2) -> Tensor:
    """A zero batch of the given shape (int64 for tokens), for computing output shapes."""
    if shape.kind == TOKENS:
        return torch.zeros(batch, shape.length, dtype=torch.long)
    return torch.zeros(batch, shape.channels, shape.length)


def shape_of(out: Tensor, n_pseudo: int) -> Shape:
    """The Shape of a real block output tensor."""
    if out.dim() == 2:
        return Shape(VECTOR, int(out.shape[1]), 1)
    if out.dim() != 3:
        raise ValueError(f"a block returned a tensor of {out.dim()} dims (expected 2 or 3)")
    return Shape(FEATURES, int(out.shape[1]), int(out.shape[2]), n_pseudo)


class Block(nn.Module):
    """Base of every block: `forward(x)` -> features, `training_step` -> (features, aux loss)."""

    accepts: ClassVar[tuple[str, ...]] = (FEATURES,)

    def __init__(self, config: Any, in_shape: Shape) -> None:
        super().__init__()
        self.config = config
        self.in_shape = in_shape
        self._out_shape: Shape | None = None

    @classmethod
    def wants(cls, config: Any) -> Want:
        """What this block needs of its input, given its config (override to ask for more)."""
        return Want(kinds=cls.accepts)

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def training_step(self, x: Tensor, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """Features plus an optional auxiliary loss (none by default)."""
        return self(x), None

    def pseudo_out(self, out_length: int) -> int:
        """Pseudo tokens at the front of the output: kept when the length is kept, else none."""
        return self.in_shape.n_pseudo if out_length == self.in_shape.length else 0

    def output_shape(self) -> Shape:
        """The output shape, computed once by a dummy forward (batch 2, eval mode, no grad)."""
        if self._out_shape is None:
            was_training = self.training
            self.eval()
            with torch.no_grad():
                out = self(dummy_input(self.in_shape))
            self.train(was_training)
            length = int(out.shape[2]) if out.dim() == 3 else 1
            self._out_shape = shape_of(out, self.pseudo_out(length))
        return self._out_shape


class FinalBlock(Block):
    """Base of final blocks: `forward(x)` -> raw head outputs (B, target.n_outputs).

    The final block owns the target, so its training step returns prediction plus loss.
    """

    def __init__(self, config: Any, in_shape: Shape, target: Target) -> None:
        super().__init__(config, in_shape)
        self.target = target

    @property
    def n_outputs(self) -> int:
        """Raw outputs per sample that the head must produce."""
        return self.target.n_outputs

    def predict(self, x: Tensor) -> Tensor:
        """Predictions (B, n_targets) on the original target scale."""
        return self.target.decode(self(x))

    def training_step(self, x: Tensor, batch: Batch) -> FinalStep:  # type: ignore[override]
        """Prediction, main loss on batch["y"], and the auxiliary loss (none by default)."""
        out = self(x)
        loss = self.target.loss(out, batch["y"])
        return FinalStep(self.target.decode(out.detach()), loss, None)

    def output_bias(self) -> nn.Parameter | None:
        """The bias added last to the raw outputs (what `init_head` sets), or None.

        Found generically, so a new final block needs no code for it: the last Linear or Conv1d
        bias of `n_outputs` entries that moves `forward()`'s outputs one for one (checked on a
        dummy input; an auxiliary head or a hidden layer of the same width does not). A block
        whose outputs come otherwise may override this (None: the head starts as built).
        """
        for module in reversed(list(self.modules())):
            bias = getattr(module, "bias", None)
            if (isinstance(module, nn.Linear | nn.Conv1d) and isinstance(bias, nn.Parameter)
                    and bias.numel() == self.n_outputs and self._shifts_outputs(bias)):
                return bias
        return None

    @torch.no_grad()
    def _shifts_outputs(self, bias: nn.Parameter) -> bool:
        was_training = self.training
        self.eval()
        x = dummy_input(self.in_shape)
        delta = torch.arange(1, bias.numel() + 1, dtype=bias.dtype, device=bias.device)
        try:
            before = self(x)
            bias.add_(delta)
            after = self(x)
        finally:
            bias.sub_(delta)
            self.train(was_training)
        return after.shape == before.shape and torch.allclose(after - before, delta.expand_as(
            after), atol=1e-3)

    @torch.no_grad()
    def init_head(self, labels: Tensor, features: Tensor | None = None) -> bool:
        """Start the head at the training labels' distribution: the output bias set so that the
        raw outputs average the target's `head_bias(labels)` on `features` (a sample of what
        this block reads; without one, the bias alone is set to it). Returns False when the
        block has no output bias (see `output_bias`) or the target gives no start."""
        bias = self.output_bias()
        start = self.target.head_bias(labels.to(self.target.mean.device))
        if bias is None or start is None:
            return False
        start = start.to(bias)
        bias.copy_(start)
        if features is not None:  # remove the common offset the weights add on real inputs
            bias.add_(start - self(features).mean(0))
        return True


def with_length(shape: Shape, length: int, n_pseudo: int | None = None) -> Shape:
    """`shape` with another length (and optionally pseudo-token count)."""
    return replace(shape, length=length, n_pseudo=shape.n_pseudo if n_pseudo is None else n_pseudo)


def check_config(config: Any, positive: tuple[str, ...] = (), fractions: tuple[str, ...] = (),
                 positive_lists: tuple[str, ...] = ()) -> None:
    """Validate config fields (raise ValueError, which make_config turns into a ConfigError)."""
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    for name in fractions:
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {getattr(config, name)}")
    for name in positive_lists:
        values = getattr(config, name)
        if not values or any(int(v) != v or v < 1 for v in values):
            raise ValueError(f"{name} must be a non-empty list of integers >= 1, got {values}")
