"""BHI (DanQ-like, 2nd place): parallel convs, Bi-LSTM + parallel convs, dense 64-64-1 head."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from prixfixe_blocks.blocks.base import Block, FinalBlock, check_config
from prixfixe_blocks.blocks.layers import DenseHead, ParallelConvs
from prixfixe_blocks.blocks.registry import register_block
from prixfixe_blocks.ranges import Around, Floats, Widths, param
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.strategies.targets import Target


@dataclass(frozen=True)
class BHIFirstConfig:
    # output channels of each parallel conv (160 in the Prix Fixe port, 256 in the challenge)
    channels: int = param(160, search=Widths(), tiny=8)
    kernel_sizes: tuple[int, ...] = param((9, 15))  # one parallel conv per kernel size
    dropout: float = param(0.2, search=Floats(0.0, 0.5))  # after the concatenated convs

    def __post_init__(self) -> None:
        check_config(self, positive=("channels",), fractions=("dropout",),
                     positive_lists=("kernel_sizes",))


@register_block("first", "bhi", BHIFirstConfig)
class BHIFirst(Block):
    """Parallel Conv1d k=9 and k=15 -> ReLU -> concatenation -> dropout."""

    def __init__(self, config: BHIFirstConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        self.convs = ParallelConvs(in_shape.channels, config.channels, config.kernel_sizes,
                                   config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.convs(x)


@dataclass(frozen=True)
class BHICoreConfig:
    hidden: int = param(320, search=Widths(), tiny=8)  # LSTM hidden size per direction
    # output channels of the parallel convs, in total (split evenly over the two kernels)
    channels: int = param(320, search=Widths(), tiny=16, multiple_of=2)
    kernel_sizes: tuple[int, ...] = param((9, 15))  # one parallel conv per kernel size
    dropout: float = param(0.2, search=Floats(0.0, 0.5))  # after each parallel conv's ReLU
    dropout_out: float = param(0.5, search=Floats(0.0, 0.5))  # then after the concatenation

    def __post_init__(self) -> None:
        check_config(self, positive=("hidden", "channels"), fractions=("dropout", "dropout_out"),
                     positive_lists=("kernel_sizes",))
        if self.channels % len(self.kernel_sizes):
            raise ValueError(f"channels {self.channels} is not divisible by the number of "
                             f"kernel_sizes ({len(self.kernel_sizes)})")


@register_block("core", "bhi", BHICoreConfig)
class BHICore(Block):
    """Bi-LSTM -> parallel convs k=9/15 (ReLU, dropout 0.2) -> concatenation -> dropout 0.5."""

    def __init__(self, config: BHICoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        self.lstm = nn.LSTM(in_shape.channels, config.hidden, batch_first=True,
                            bidirectional=True)
        self.convs = ParallelConvs(2 * config.hidden, config.channels // len(config.kernel_sizes),
                                   config.kernel_sizes, config.dropout)
        self.dropout_out = nn.Dropout(config.dropout_out)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.lstm(x.transpose(1, 2))
        return self.dropout_out(self.convs(y.transpose(1, 2)))


@dataclass(frozen=True)
class DenseFinalConfig:
    hidden: int = param(64, search=Widths(), tiny=32)  # width of each hidden dense layer
    n_layers: int = param(2, search=Around(1))  # hidden dense layers
    dropout: float = param(0.0, search=Floats(0.0, 0.5))  # dropout after each hidden layer

    def __post_init__(self) -> None:
        check_config(self, positive=("hidden",), fractions=("dropout",))
        if self.n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {self.n_layers}")


class DenseFinal(FinalBlock):
    """Flatten the whole feature map -> dense hidden layers -> outputs (shared by teams)."""

    def __init__(self, config: DenseFinalConfig, in_shape: Shape, target: Target) -> None:
        super().__init__(config, in_shape, target)
        self.head = DenseHead(in_shape.channels * in_shape.length, config.hidden,
                              config.n_layers, self.n_outputs, config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x)


@register_block("final", "bhi", DenseFinalConfig)
class BHIFinal(DenseFinal):
    """Flatten -> dense 64 -> dense 64 -> 1 (one output per target, or 18 bins each)."""
