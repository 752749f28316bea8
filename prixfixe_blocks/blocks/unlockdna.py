"""Unlock_DNA (Conformer transformer, 3rd place): k-mer embedding with pseudo-expression tokens,
Conformer core, pseudo-token expression head + masked-nucleotide auxiliary head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prixfixe_blocks.blocks.adapters import one_hot
from prixfixe_blocks.blocks.base import (
    Batch,
    Block,
    FinalBlock,
    FinalStep,
    Want,
    check_config,
)
from prixfixe_blocks.blocks.layers import ConformerBlock, SameConv1d
from prixfixe_blocks.blocks.registry import register_block
from prixfixe_blocks.ranges import Around, Choice, Floats, Ints, Widths, param
from prixfixe_blocks.shapes import FEATURES, TOKENS, Shape
from prixfixe_blocks.strategies.input_encodings import IGNORE_INDEX
from prixfixe_blocks.strategies.targets import Target

MIN_MLM_CLASSES = 4  # the masked-nucleotide head must at least name A C G T
# Keras' default embedding init, U(-0.05, 0.05): the challenge entry's position embedding
KERAS_EMBEDDING_RANGE = 0.05
PSEUDO_INIT_STD = 0.02  # independent pseudo tokens (neither team's code has them)


@dataclass(frozen=True)
class UnlockFirstConfig:
    d_model: int = param(512, search=Widths(), tiny=16)  # embedding width
    # sliding k-mer size of the embedding (3 in the Prix Fixe port, 10 in the challenge entry)
    kmer: int = param(3, search=Around(1))
    # learned pseudo-expression tokens prepended (8 in the port, 32 in the challenge entry)
    n_pseudo: int = param(8, search=Around(1), tiny=2)
    # add a strand embedding (forward / reverse-complement half of tokens)
    strand: bool = param(True, search=Choice((False, True)))
    # learned position embedding of the sequence positions here (the challenge entry); the port
    # adds it in the core instead (core.position)
    position: bool = param(False)
    # one shared pseudo token vector starting at 0 (the challenge entry: a dense layer applied to
    # zeros), instead of one learned vector per token
    shared_pseudo: bool = param(False)

    def __post_init__(self) -> None:
        check_config(self, positive=("d_model", "kmer", "n_pseudo"))


@register_block("first", "unlockdna", UnlockFirstConfig)
class UnlockFirst(Block):
    """k-mer embedding (one-hot patches -> dense) + strand (+ position) + pseudo tokens.

    Takes tokens (one-hot inside) or any feature map (its channels are the patch alphabet). With
    tokens the second half of the positions is the reverse-complement strand; a feature map is
    one strand.
    """

    accepts = (TOKENS, FEATURES)

    def __init__(self, config: UnlockFirstConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        d, length = config.d_model, in_shape.length
        self.embed = SameConv1d(in_shape.channels, d, config.kmer)
        self.position = None
        if config.position:
            self.position = nn.Parameter(torch.empty(1, d, length).uniform_(
                -KERAS_EMBEDDING_RANGE, KERAS_EMBEDDING_RANGE))
        self.strand = nn.Embedding(2, d) if config.strand else None
        if config.shared_pseudo:
            self.pseudo = nn.Parameter(torch.zeros(1, d, 1))
        else:
            self.pseudo = nn.Parameter(torch.randn(1, d, config.n_pseudo) * PSEUDO_INIT_STD)
        strand_ids = torch.zeros(length, dtype=torch.long)
        if in_shape.kind == TOKENS:
            strand_ids[length // 2:] = 1
        self.register_buffer("strand_ids", strand_ids, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.in_shape.kind == TOKENS:
            x = one_hot(x, self.in_shape.channels)
        h = self.embed(x)
        if self.position is not None:
            h = h + self.position
        if self.strand is not None:
            h = h + self.strand(self.strand_ids).t()
        pseudo = self.pseudo.expand(h.shape[0], -1, self.config.n_pseudo)
        return torch.cat([pseudo, h], dim=-1)

    def pseudo_out(self, out_length: int) -> int:
        return self.config.n_pseudo


@dataclass(frozen=True)
class UnlockCoreConfig:
    # model width (a projection is inserted when the input differs)
    d_model: int = param(512, search=Widths(), tiny=16, multiple_of="n_heads")
    # attention heads: the port's attention has 4 whatever it is asked; the challenge entry 8
    n_heads: int = param(4)
    n_blocks: int = param(4, search=Around(1), tiny=1)  # Conformer blocks
    kernel_size: int = param(15, search=Ints(11, 19, step=2))  # depthwise conv kernel
    ff_mult: int = param(4, tiny=2)  # feed-forward expansion before SwiGLU halves it
    dropout: float = param(0.1, search=Floats(0.0, 0.5))  # in feed-forward and conv modules
    # learned position embedding (input length x d_model, N(0, 1)) added to the input (the
    # port; the challenge entry embeds positions in its first block)
    position: bool = param(True)
    # each head d_model wide (the challenge entry's Keras attention, key_dim = d_model), not
    # d_model / n_heads
    full_heads: bool = param(False)
    # the conv module also adds its normalized input to the stream (the port)
    norm_residual: bool = param(True)

    def __post_init__(self) -> None:
        check_config(self, positive=("d_model", "n_heads", "n_blocks", "kernel_size", "ff_mult"),
                     fractions=("dropout",))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.d_model * self.ff_mult % 2:
            raise ValueError(f"d_model x ff_mult ({self.d_model * self.ff_mult}) must be even")


@register_block("core", "unlockdna", UnlockCoreConfig)
class UnlockCore(Block):
    """Position embedding + Conformer (Macaron) blocks: SwiGLU FF, conv, attention, SwiGLU FF."""

    @classmethod
    def wants(cls, config: UnlockCoreConfig) -> Want:
        return Want(kinds=(FEATURES,), channels=config.d_model)

    def __init__(self, config: UnlockCoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        d = config.d_model
        self.position = (nn.Parameter(torch.randn(in_shape.length, d)) if config.position
                         else None)
        self.blocks = nn.Sequential(*(
            ConformerBlock(d, config.n_heads, config.kernel_size, config.ff_mult,
                           config.dropout, head_dim=d if config.full_heads else None,
                           norm_residual=config.norm_residual)
            for _ in range(config.n_blocks)
        ))

    def forward(self, x: Tensor) -> Tensor:
        h = x.transpose(1, 2)
        if self.position is not None:
            h = h + self.position
        return self.blocks(h).transpose(1, 2)


@dataclass(frozen=True)
class UnlockFinalConfig:
    # pseudo tokens made by attention pooling when the input has none
    n_pseudo: int = param(8, search=Around(1), tiny=2)
    # masked-nucleotide auxiliary head (used when the batch has mlm_labels)
    mlm: bool = param(True, search=Choice((False, True)))
    # dropout on the pseudo tokens before the expression head (0.2 in the port, 0.1 in the
    # challenge entry)
    dropout: float = param(0.2, search=Floats(0.0, 0.5))
    # classes of the masked-nucleotide head: A C G T N (the port); the challenge entry adds M
    mlm_classes: int = param(5)

    def __post_init__(self) -> None:
        check_config(self, positive=("n_pseudo",), fractions=("dropout",))
        if self.mlm_classes < MIN_MLM_CLASSES:
            raise ValueError(f"mlm_classes must be >= {MIN_MLM_CLASSES} (A C G T), "
                             f"got {self.mlm_classes}")


@register_block("final", "unlockdna", UnlockFinalConfig)
class UnlockFinal(FinalBlock):
    """Each pseudo token -> dense -> outputs, averaged; sequence tokens -> base logits (aux).

    The aux loss is the cross-entropy summed over the masked positions of batch["mlm_labels"]
    (-100 = not masked) divided by their count + 1, as both Unlock_DNA versions compute it. When
    the core changed the length, the base logits are resized (nearest) to the labels' length.
    """

    @classmethod
    def wants(cls, config: UnlockFinalConfig) -> Want:
        return Want(kinds=(FEATURES,), n_pseudo=config.n_pseudo)

    def __init__(self, config: UnlockFinalConfig, in_shape: Shape, target: Target) -> None:
        super().__init__(config, in_shape, target)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(in_shape.channels, self.n_outputs)
        self.mlm_head = (nn.Conv1d(in_shape.channels, config.mlm_classes, 1) if config.mlm
                         else None)

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
        """Cross-entropy summed over the masked positions / (their count + 1)."""
        logits = self.mlm_head(x[:, :, self.in_shape.n_pseudo:])
        if logits.shape[-1] != labels.shape[-1]:
            logits = F.interpolate(logits, size=labels.shape[-1], mode="nearest")
        labels = labels.long()
        total = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
        return total / ((labels != IGNORE_INDEX).sum() + 1)
