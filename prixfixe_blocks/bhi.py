"""BHI (DanQ-like, 2nd place): parallel convs, Bi-LSTM + parallel convs, dense 64-64-1 head."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from prixfixe_blocks.base import Block, FinalBlock, Shape, check_config
from prixfixe_blocks.layers import DenseHead, ParallelConvs
from prixfixe_blocks.registry import register_block
from prixfixe_blocks.targets import Target


@dataclass(frozen=True)
class BHIFirstConfig:
    channels: int = 256  # output channels of each parallel conv (160 in the Prix Fixe presets)
    kernel_sizes: tuple[int, ...] = (9, 15)  # one parallel conv per kernel size
    dropout: float = 0.2  # dropout after the concatenated convs

    def __post_init__(self) -> None:
        check_config(self, positive=("channels",), fractions=("dropout",),
                     positive_lists=("kernel_sizes",))


@register_block("first", "bhi", BHIFirstConfig, tiny={"channels": 8})
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
    hidden: int = 320  # LSTM hidden size per direction
    channels: int = 320  # output channels of the parallel convs, in total
    kernel_sizes: tuple[int, ...] = (9, 15)  # one parallel conv per kernel size
    dropout: float = 0.2  # dropout after the Bi-LSTM
    dropout_out: float = 0.5  # dropout after the parallel convs

    def __post_init__(self) -> None:
        check_config(self, positive=("hidden", "channels"), fractions=("dropout", "dropout_out"),
                     positive_lists=("kernel_sizes",))
        if self.channels % len(self.kernel_sizes):
            raise ValueError(f"channels {self.channels} is not divisible by the number of "
                             f"kernel_sizes ({len(self.kernel_sizes)})")


@register_block("core", "bhi", BHICoreConfig, tiny={"hidden": 8, "channels": 16})
class BHICore(Block):
    """Bi-LSTM -> dropout -> parallel convs (k=9, 15) -> concatenation -> dropout."""

    def __init__(self, config: BHICoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        self.lstm = nn.LSTM(in_shape.channels, config.hidden, batch_first=True,
                            bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.convs = ParallelConvs(2 * config.hidden, config.channels // len(config.kernel_sizes),
                                   config.kernel_sizes, config.dropout_out)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.lstm(x.transpose(1, 2))
        return self.convs(self.dropout(y.transpose(1, 2)))


@dataclass(frozen=True)
class DenseFinalConfig:
    hidden: int = 64  # width of each hidden dense layer
    n_layers: int = 2  # hidden dense layers
    dropout: float = 0.0  # dropout after each hidden layer

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


@register_block("final", "bhi", DenseFinalConfig, tiny={"hidden": 32})
class BHIFinal(DenseFinal):
    """Flatten -> dense 64 -> dense 64 -> 1 (one output per target, or 18 bins each)."""
