"""Adapters that compose inserts so any first x core x final combination fits together.

- `OneHot`: tokens (B, L) -> one-hot feature map (B, vocab, L), for a block that takes features.
- `Projection`: 1x1 conv when a block wants a fixed width (e.g. a Conformer's d_model).
- `PseudoTokens`: attention pooling into `n` pseudo-expression tokens prepended to the map, for a
  token head (Unlock_DNA's) fed by blocks that made none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prixfixe_blocks.blocks.base import Want, with_length
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.shapes import FEATURES, TOKENS, Shape


def one_hot(tokens: Tensor, vocab: int) -> Tensor:
    """int64 (B, L) codes -> float (B, vocab, L) one-hot."""
    return F.one_hot(tokens.long(), vocab).transpose(1, 2).float()


class OneHot(nn.Module):
    """Tokens -> one-hot feature map (no parameters)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, x: Tensor) -> Tensor:
        return one_hot(x, self.vocab)


class Projection(nn.Module):
    """Pointwise (1x1) convolution from one width to another."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv1d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class PseudoTokens(nn.Module):
    """Attention pooling into `n` pseudo tokens (one softmax over positions each), prepended."""

    def __init__(self, channels: int, n: int) -> None:
        super().__init__()
        self.scores = nn.Conv1d(channels, n, 1)

    def forward(self, x: Tensor) -> Tensor:
        weights = torch.softmax(self.scores(x), dim=-1)  # (B, n, L)
        pooled = torch.einsum("bnl,bcl->bcn", weights, x)
        return torch.cat([pooled, x], dim=-1)


def plan_adapters(want: Want, shape: Shape, where: str) -> tuple[list[nn.Module], Shape]:
    """Adapters turning `shape` into what a block wants, and the shape they produce.

    `where` names the two parts for the error raised when no adapter can help.
    """
    adapters: list[nn.Module] = []
    if shape.kind not in want.kinds:
        if shape.kind == TOKENS and FEATURES in want.kinds:
            adapters.append(OneHot(shape.channels))
            shape = Shape(FEATURES, shape.channels, shape.length)
        else:
            raise ConfigError(
                f"{where}: it takes {' or '.join(want.kinds)} but gets {shape.describe()}"
            )
    if want.channels is not None and shape.channels != want.channels:
        adapters.append(Projection(shape.channels, want.channels))
        shape = Shape(FEATURES, want.channels, shape.length, shape.n_pseudo)
    if want.n_pseudo and shape.n_pseudo == 0:
        adapters.append(PseudoTokens(shape.channels, want.n_pseudo))
        shape = with_length(shape, shape.length + want.n_pseudo, want.n_pseudo)
    return adapters, shape
