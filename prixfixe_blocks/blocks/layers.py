"""Layers shared by the team blocks, written once. Feature maps are (batch, channels, length)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEGNET_LINEAR_STD = 1e-3  # LegNet's linear-layer weight init


class SameConv1d(nn.Conv1d):
    """Conv1d whose output keeps the input length for any kernel (even kernels pad one more
    position on the right), with zeros as torch's padding='same'.

    Where the zeros go is chosen by speed on CPU (oneDNN, measured by
    benchmarks/seed_speed.py's step and per layer): a 1-wide kernel pads nothing; a dense odd
    kernel pads inside the convolution (no padded copy of its input: ~10% faster for LegNet's
    k=7 resize convs); a grouped (depthwise) or even kernel gets an explicitly zero-padded copy
    (oneDNN's padded grouped kernels ran 1.1-1.9x slower than pad + unpadded conv).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 **kwargs: Any) -> None:
        inside = kernel_size % 2 == 1 and kwargs.get("groups", 1) == 1
        super().__init__(in_channels, out_channels, kernel_size,
                         padding=(kernel_size - 1) // 2 if inside else 0, **kwargs)
        pads = ((kernel_size - 1) // 2, kernel_size // 2)
        self.pads = None if inside or kernel_size == 1 else pads

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x if self.pads is None else F.pad(x, self.pads))


def legnet_init(module: nn.Module) -> None:
    """LegNet's initialization (Autosome.org's blocks, challenge entry and port alike), for
    `Module.apply`: conv weights ~ N(0, 2 / (kernel x out channels)), linear weights ~
    N(0, 0.001^2), biases 0, BatchNorm scale 1."""
    if isinstance(module, nn.Conv1d):
        fan_out = module.kernel_size[0] * module.out_channels
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
    elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, LEGNET_LINEAR_STD)
    elif isinstance(module, nn.BatchNorm1d):
        nn.init.ones_(module.weight)
    else:
        return
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class ConvBnAct(nn.Sequential):
    """Conv1d ('same' padding, no bias) -> BatchNorm -> activation (LegNet's local block)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 activation: type[nn.Module] = nn.SiLU, groups: int = 1) -> None:
        super().__init__(
            SameConv1d(in_channels, out_channels, kernel_size, groups=groups, bias=False),
            nn.BatchNorm1d(out_channels),
            activation(),
        )


class LowRankBilinear(nn.Module):
    """Pairwise products of the inputs -> `out` features, with a rank-R (CP) factorized weight.

    R is chosen so the layer has `fraction` of the full bilinear layer's n*n*out parameters
    (LegNet's original SE used a rank-0.5 tensor regression layer of this kind).
    """

    def __init__(self, n: int, out: int, fraction: float = 0.5) -> None:
        super().__init__()
        rank = max(1, round(fraction * n * n * out / (2 * n + out)))
        self.left = nn.Linear(n, rank, bias=False)
        self.right = nn.Linear(n, rank, bias=False)
        self.out = nn.Linear(rank, out)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.left(x) * self.right(x))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: channel gates from the mean over positions.

    bilinear=False: Linear -> SiLU -> Linear -> sigmoid (the Prix Fixe port). bilinear=True:
    LegNet's original gate, which adds a dense layer and concatenated pairwise (bilinear) features.
    """

    def __init__(self, channels: int, squeeze: int, bilinear: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(channels, squeeze), nn.SiLU()]
        width = squeeze
        if bilinear:
            extra = max(1, squeeze // 2)
            layers += [nn.Linear(squeeze, squeeze), Concat(LowRankBilinear(squeeze, extra)),
                       nn.SiLU()]
            width = squeeze + extra
        layers += [nn.Linear(width, channels), nn.Sigmoid()]
        self.gate = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x.mean(dim=-1)).unsqueeze(-1)


class Concat(nn.Module):
    """Concatenates a module's output to its input along the last dimension."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.module(x)], dim=-1)


class ParallelConvs(nn.Module):
    """Parallel 'same' convs with different kernels, each with `channels` outputs, concatenated."""

    def __init__(self, in_channels: int, channels: int, kernel_sizes: Sequence[int],
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            SameConv1d(in_channels, channels, k) for k in kernel_sizes
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(torch.cat([F.relu(conv(x)) for conv in self.convs], dim=1))


class DenseHead(nn.Module):
    """Flatten -> `n_layers` x (Linear `hidden` -> ReLU -> dropout) -> Linear to `n_outputs`."""

    def __init__(self, in_features: int, hidden: int, n_layers: int, n_outputs: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


LAYER_NORM_EPS = 1e-6  # Unlock_DNA's LayerNorm epsilon (challenge entry and port alike)


class SwiGLUFeedForward(nn.Module):
    """LayerNorm -> Linear d -> mult*d -> SwiGLU (halves it) -> Linear back to d (no biases)."""

    def __init__(self, d_model: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.up = nn.Linear(d_model, d_model * mult, bias=False)
        self.down = nn.Linear(d_model * mult // 2, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.up(self.norm(x)).chunk(2, dim=-1)
        return self.dropout(self.down(self.dropout(value * F.silu(gate))))


class ConvModule(nn.Module):
    """LayerNorm -> depthwise conv (k, no bias) -> pointwise conv -> ReLU -> dropout, on (B, L, d).

    norm_residual: also return the normalized input (x + LN(x) + conv(LN(x)) in the block), as
    the Prix Fixe port does; the challenge entry adds only the conv output.
    """

    def __init__(self, d_model: int, kernel_size: int, dropout: float,
                 norm_residual: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.depthwise = SameConv1d(d_model, d_model, kernel_size, groups=d_model, bias=False)
        self.pointwise = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)
        self.norm_residual = norm_residual

    def forward(self, x: Tensor) -> Tensor:
        normed = self.norm(x)
        y = self.pointwise(self.depthwise(normed.transpose(1, 2)))
        y = self.dropout(F.relu(y).transpose(1, 2))
        return y + normed if self.norm_residual else y


class SelfAttention(nn.Module):
    """Multi-head self-attention (scaled dot product, no dropout) on (B, L, d).

    Each of the `n_heads` heads is `head_dim` wide (d / n_heads when None). Neither Unlock_DNA
    version drops attention probabilities, so `scaled_dot_product_attention` keeps its fused
    kernel.
    """

    def __init__(self, d_model: int, n_heads: int, head_dim: int | None = None) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = head_dim or d_model // n_heads
        inner = n_heads * self.head_dim
        self.qkv = nn.Linear(d_model, 3 * inner)
        self.out = nn.Linear(inner, d_model)

    def forward(self, x: Tensor) -> Tensor:
        b, length, _ = x.shape
        qkv = self.qkv(x).view(b, length, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, length, -1))


class ConformerBlock(nn.Module):
    """Unlock_DNA's Macaron Conformer: x + FF/2 -> + conv module -> LayerNorm of the stream ->
    + self-attention -> + FF/2 (no norm at the end; attention reads the normalized stream and
    adds to it, as both the challenge entry and the port do)."""

    def __init__(self, d_model: int, n_heads: int, kernel_size: int, ff_mult: int,
                 dropout: float, *, head_dim: int | None = None,
                 norm_residual: bool = False) -> None:
        super().__init__()
        self.ff1 = SwiGLUFeedForward(d_model, ff_mult, dropout)
        self.conv = ConvModule(d_model, kernel_size, dropout, norm_residual)
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.attn = SelfAttention(d_model, n_heads, head_dim)
        self.ff2 = SwiGLUFeedForward(d_model, ff_mult, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + 0.5 * self.ff1(x)
        x = self.norm(x + self.conv(x))
        x = x + self.attn(x)
        return x + 0.5 * self.ff2(x)


class ResidualConvBlock(nn.Module):
    """Two convs (BN, ReLU) with an identity or 1x1 skip, then ReLU, max-pool, dropout."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int, pool: int,
                 dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBnAct(in_channels, channels, kernel_size, nn.ReLU),
            SameConv1d(channels, channels, kernel_size, bias=False),
            nn.BatchNorm1d(channels),
        )
        self.skip = (nn.Identity() if in_channels == channels
                     else nn.Conv1d(in_channels, channels, 1, bias=False))
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.pool(F.relu(self.body(x) + self.skip(x))))
