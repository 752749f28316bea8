"""Autosome.org (LegNet, 1st place): local conv stem, EfficientNetV2-like core, 18-bin head."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor, nn

from prixfixe_blocks.blocks.base import Block, FinalBlock, check_config
from prixfixe_blocks.blocks.layers import ConvBnAct, SqueezeExcite, legnet_init
from prixfixe_blocks.blocks.registry import register_block
from prixfixe_blocks.ranges import Floats, Ints, Widths, param
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.strategies.targets import Target


@dataclass(frozen=True)
class AutosomeFirstConfig:
    channels: int = param(256, search=Widths(), tiny=16)  # output channels of the stem conv
    kernel_size: int = param(7, search=Ints(3, 11, step=2))  # stem conv kernel

    def __post_init__(self) -> None:
        check_config(self, positive=("channels", "kernel_size"))


@register_block("first", "autosome", AutosomeFirstConfig)
class AutosomeFirst(Block):
    """LegNet stem: Conv1d (k=7, 256, no bias) -> BatchNorm -> SiLU."""

    def __init__(self, config: AutosomeFirstConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        self.stem = ConvBnAct(in_shape.channels, config.channels, config.kernel_size)
        self.apply(legnet_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.stem(x)


SE_TYPES = ("simple", "bilinear")


@dataclass(frozen=True)
class AutosomeCoreConfig:
    # output width of each block
    block_sizes: tuple[int, ...] = param((128, 128, 64, 64, 64, 64), tiny=(16, 8))
    kernel_size: int = param(7, search=Ints(3, 11, step=2))  # grouped conv and resize conv kernel
    expansion: int = param(4)  # inner width = block size x expansion
    filters_per_group: int = param(2)  # filters per group of the grouped conv
    se_reduction: int = param(4)  # squeeze width = block input width / se_reduction
    se_type: str = param("simple")  # "simple" (Prix Fixe port) or "bilinear" (LegNet's gate)

    def __post_init__(self) -> None:
        check_config(self, positive=("kernel_size", "expansion", "filters_per_group",
                                     "se_reduction"), positive_lists=("block_sizes",))
        if self.se_type not in SE_TYPES:
            raise ValueError(f"se_type '{self.se_type}' is not one of {', '.join(SE_TYPES)}")
        for size in self.block_sizes:
            if size * self.expansion % self.filters_per_group:
                raise ValueError(f"block size {size} x expansion {self.expansion} is not "
                                 f"divisible by filters_per_group {self.filters_per_group}")


class EffBlock(nn.Module):
    """Inverted residual: 1x1 expand -> grouped conv -> SE -> 1x1 back to the input width."""

    def __init__(self, in_channels: int, inner: int, config: AutosomeCoreConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            ConvBnAct(in_channels, inner, 1),
            ConvBnAct(inner, inner, config.kernel_size, groups=inner // config.filters_per_group),
            SqueezeExcite(inner, max(1, in_channels // config.se_reduction),
                          bilinear=config.se_type == "bilinear"),
            ConvBnAct(inner, in_channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConcatResidual(nn.Module):
    """The input concatenated with its EffBlock output, then a k conv resizes to the block size."""

    def __init__(self, in_channels: int, size: int, config: AutosomeCoreConfig) -> None:
        super().__init__()
        self.inner = EffBlock(in_channels, size * config.expansion, config)
        self.resize = ConvBnAct(2 * in_channels, size, config.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.resize(torch.cat([x, self.inner(x)], dim=1))


@register_block("core", "autosome", AutosomeCoreConfig)
class AutosomeCore(Block):
    """LegNet core: EfficientNetV2-like blocks with concatenation residuals."""

    def __init__(self, config: AutosomeCoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        widths = (in_shape.channels, *config.block_sizes)
        self.blocks = nn.Sequential(
            *(ConcatResidual(w_in, w_out, config) for w_in, w_out in pairwise(widths))
        )
        self.apply(legnet_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


@dataclass(frozen=True)
class AutosomeFinalConfig:
    dropout: float = param(0.0, search=Floats(0.0, 0.5))  # before the 1x1 conv (0 as published)
    # SiLU after the 1x1 conv (the challenge entry; the Prix Fixe port dropped it)
    silu: bool = param(False)

    def __post_init__(self) -> None:
        check_config(self, fractions=("dropout",))


@register_block("final", "autosome", AutosomeFinalConfig)
class AutosomeFinal(FinalBlock):
    """1x1 conv to the target's outputs (18 bins each for softbin) -> global average pool."""

    def __init__(self, config: AutosomeFinalConfig, in_shape: Shape, target: Target) -> None:
        super().__init__(config, in_shape, target)
        self.dropout = nn.Dropout(config.dropout)
        self.mapper = nn.Conv1d(in_shape.channels, self.n_outputs, 1)
        self.activation = nn.SiLU() if config.silu else nn.Identity()
        self.apply(legnet_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.mapper(self.dropout(x))).mean(dim=-1)
