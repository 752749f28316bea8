"""Camformers (4th place; not in the paper's Prix Fixe runs): ResNet CNN core, dense head."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from torch import Tensor, nn

from prixfixe_blocks.blocks.base import Block, check_config
from prixfixe_blocks.blocks.bhi import DenseFinal, DenseFinalConfig
from prixfixe_blocks.blocks.layers import ResidualConvBlock
from prixfixe_blocks.blocks.registry import register_block
from prixfixe_blocks.ranges import Around, Floats, Ints, Widths, param
from prixfixe_blocks.shapes import Shape


@dataclass(frozen=True)
class CamformersCoreConfig:
    channels: int = param(512, search=Widths(), tiny=8)  # width of every conv layer
    kernel_size: int = param(10, search=Ints(4, 14, step=2), tiny=4)  # conv kernel
    # residual blocks of two convs each (6 conv layers); tied to pool_sizes, so not searched
    n_blocks: int = param(3)
    pool_sizes: tuple[int, ...] = param((2, 2, 2))  # max-pool after each block (1 = none)
    dropout: float = param(0.2, search=Floats(0.0, 0.5))  # dropout after each block

    def __post_init__(self) -> None:
        check_config(self, positive=("channels", "kernel_size", "n_blocks"),
                     fractions=("dropout",), positive_lists=("pool_sizes",))
        if len(self.pool_sizes) != self.n_blocks:
            raise ValueError(f"pool_sizes {self.pool_sizes} must give one pool per block "
                             f"(n_blocks {self.n_blocks})")


@register_block("core", "camformers", CamformersCoreConfig)
class CamformersCore(Block):
    """ResNet CNN: residual blocks of two k=10 convs (512 channels), max-pooled."""

    def __init__(self, config: CamformersCoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        widths = (in_shape.channels,) + (config.channels,) * config.n_blocks
        self.blocks = nn.Sequential(*(
            ResidualConvBlock(w_in, w_out, config.kernel_size, pool, config.dropout)
            for (w_in, w_out), pool in zip(pairwise(widths), config.pool_sizes, strict=True)
        ))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] < self._min_length():
            raise ValueError(f"input length {x.shape[-1]} is shorter than the pooling "
                             f"{self.config.pool_sizes} allows ({self._min_length()})")
        return self.blocks(x)

    def _min_length(self) -> int:
        total = 1
        for pool in self.config.pool_sizes:
            total *= pool
        return total


@dataclass(frozen=True)
class CamformersFinalConfig(DenseFinalConfig):
    hidden: int = param(256, search=Widths(), tiny=32)  # width of each hidden dense layer
    n_layers: int = param(2, search=Around(1))  # hidden dense layers
    dropout: float = param(0.0, search=Floats(0.0, 0.5))  # dropout after each hidden layer


@register_block("final", "camformers", CamformersFinalConfig)
class CamformersFinal(DenseFinal):
    """Flatten -> dense 256 -> dense 256 -> 1 (one output per target, or 18 bins each)."""
