"""Unlock_DNA (Conformer transformer, 3rd place): k-mer embedding with pseudo-expression tokens,
Conformer core, pseudo-token expression head + masked-nucleotide auxiliary head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prixfixe_blocks.blocks.adapters import one_hot
from prixfixe_blocks.blocks.base import (
    FEATURES,
    TOKENS,
    Batch,
    Block,
    FinalBlock,
    FinalStep,
    Shape,
    Want,
    check_config,
)
from prixfixe_blocks.blocks.layers import ConformerBlock, SameConv1d
from prixfixe_blocks.blocks.registry import register_block
from prixfixe_blocks.ranges import Around, Choice, Floats, Ints, Widths, param
from prixfixe_blocks.strategies.targets import Target

VOCAB = 6  # A C G T N M: the masked-nucleotide head predicts a code in this alphabet
IGNORE = -100  # mlm_labels value at positions that were not masked


@dataclass(frozen=True)
class UnlockFirstConfig:
    d_model: int = param(512, search=Widths(), tiny=16)  # embedding width
    # sliding k-mer size of the embedding (3 in the Prix Fixe port)
    kmer: int = param(10, search=Around(1), tiny=3)
    # learned pseudo-expression tokens prepended (8 in the Prix Fixe port)
    n_pseudo: int = param(32, search=Around(1), tiny=2)
    # add a strand embedding (forward / reverse-complement half of tokens)
    strand: bool = param(True, search=Choice((False, True)))

    def __post_init__(self) -> None:
        check_config(self, positive=("d_model", "kmer", "n_pseudo"))


@register_block("first", "unlockdna", UnlockFirstConfig)
class UnlockFirst(Block):
    """k-mer embedding (one-hot patches -> dense) + position + strand + pseudo tokens.

    Takes tokens (one-hot inside) or any feature map (its channels are the patch alphabet). With
    tokens the second half of the positions is the reverse-complement strand; a feature map is
    one strand.
    """

    accepts = (TOKENS, FEATURES)

    def __init__(self, config: UnlockFirstConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        d, length = config.d_model, in_shape.length
        self.embed = SameConv1d(in_shape.channels, d, config.kmer)
        self.position = nn.Parameter(torch.randn(1, d, length) * 0.02)
        self.strand = nn.Embedding(2, d) if config.strand else None
        self.pseudo = nn.Parameter(torch.randn(1, d, config.n_pseudo) * 0.02)
        strand_ids = torch.zeros(length, dtype=torch.long)
        if in_shape.kind == TOKENS:
            strand_ids[length // 2:] = 1
        self.register_buffer("strand_ids", strand_ids, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.in_shape.kind == TOKENS:
            x = one_hot(x, self.in_shape.channels)
        h = self.embed(x) + self.position
        if self.strand is not None:
            h = h + self.strand(self.strand_ids).t()
        return torch.cat([self.pseudo.expand(h.shape[0], -1, -1), h], dim=-1)

    def pseudo_out(self, out_length: int) -> int:
        return self.config.n_pseudo


@dataclass(frozen=True)
class UnlockCoreConfig:
    # model width (a projection is inserted when the input differs)
    d_model: int = param(512, search=Widths(), tiny=16, multiple_of="n_heads")
    n_heads: int = param(8, tiny=2)  # attention heads
    n_blocks: int = param(4, search=Around(1), tiny=1)  # Conformer blocks
    kernel_size: int = param(15, search=Ints(11, 19, step=2))  # depthwise conv kernel
    ff_mult: int = param(4, tiny=2)  # feed-forward expansion before SwiGLU halves it
    dropout: float = param(0.1, search=Floats(0.0, 0.5))  # in feed-forward, conv, attention

    def __post_init__(self) -> None:
        check_config(self, positive=("d_model", "n_heads", "n_blocks", "kernel_size", "ff_mult"),
                     fractions=("dropout",))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.d_model * self.ff_mult % 2:
            raise ValueError(f"d_model x ff_mult ({self.d_model * self.ff_mult}) must be even")


@register_block("core", "unlockdna", UnlockCoreConfig)
class UnlockCore(Block):
    """Conformer (Macaron) blocks: SwiGLU FF, depthwise conv, self-attention, SwiGLU FF."""

    @classmethod
    def wants(cls, config: UnlockCoreConfig) -> Want:
        return Want(kinds=(FEATURES,), channels=config.d_model)

    def __init__(self, config: UnlockCoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        self.blocks = nn.Sequential(*(
            ConformerBlock(config.d_model, config.n_heads, config.kernel_size, config.ff_mult,
                           config.dropout)
            for _ in range(config.n_blocks)
        ))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)


@dataclass(frozen=True)
class UnlockFinalConfig:
    # pseudo tokens made by attention pooling when the input has none
    n_pseudo: int = param(8, search=Around(1), tiny=2)
    # masked-nucleotide auxiliary head (used when the batch has mlm_labels)
    mlm: bool = param(True, search=Choice((False, True)))
    dropout: float = param(0.0, search=Floats(0.0, 0.5))  # dropout before the heads

    def __post_init__(self) -> None:
        check_config(self, positive=("n_pseudo",), fractions=("dropout",))


@register_block("final", "unlockdna", UnlockFinalConfig)
class UnlockFinal(FinalBlock):
    """Each pseudo token -> dense -> outputs, averaged; sequence tokens -> base logits (aux).

    The aux loss is cross-entropy on batch["mlm_labels"] (-100 = not masked). When the core
    changed the length, the base logits are resized (nearest) to the labels' length.
    """

    @classmethod
    def wants(cls, config: UnlockFinalConfig) -> Want:
        return Want(kinds=(FEATURES,), n_pseudo=config.n_pseudo)

    def __init__(self, config: UnlockFinalConfig, in_shape: Shape, target: Target) -> None:
        super().__init__(config, in_shape, target)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(in_shape.channels, self.n_outputs)
        self.mlm_head = nn.Conv1d(in_shape.channels, VOCAB, 1) if config.mlm else None

    def forward(self, x: Tensor) -> Tensor:
        pseudo = self.dropout(x[:, :, : self.in_shape.n_pseudo]).transpose(1, 2)
        return self.head(pseudo).mean(dim=1)

    def training_step(self, x: Tensor, batch: Batch) -> FinalStep:  # type: ignore[override]
        out = self(x)
        loss = self.target.loss(out, batch["y"])
        labels = batch.get("mlm_labels")
        aux = self.mlm_loss(x, labels) if labels is not None and self.mlm_head else None
        return FinalStep(self.target.decode(out.detach()), loss, aux)

    def mlm_loss(self, x: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy of the base logits at the masked positions (0 when none is masked)."""
        logits = self.mlm_head(self.dropout(x[:, :, self.in_shape.n_pseudo:]))
        if logits.shape[-1] != labels.shape[-1]:
            logits = F.interpolate(logits, size=labels.shape[-1], mode="nearest")
        if not bool((labels != IGNORE).any()):
            return logits.sum() * 0.0
        return F.cross_entropy(logits, labels.long(), ignore_index=IGNORE)
