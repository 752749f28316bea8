"""compose(): a model from block names and configs, with adapters inserted where parts differ.

Every shape is computed (each block's output shape by a dummy forward), so any first x core x
final combination of the registered blocks builds for any input shape; a combination that still
cannot work fails here, at build time, with a ConfigError naming both parts and why.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prixfixe_blocks.blocks.adapters import plan_adapters
from prixfixe_blocks.blocks.base import Batch, Block, FinalBlock
from prixfixe_blocks.blocks.registry import get_block, make_config
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.shapes import FEATURES, TOKENS, Shape
from prixfixe_blocks.spec import ROLES, ModelSpec
from prixfixe_blocks.strategies.input_encodings import IGNORE_INDEX, default_input_shape
from prixfixe_blocks.strategies.targets import Stats, Target, make_target


class PrixFixeModel(nn.Module):
    """First layers -> core -> final layers, each behind the adapters it needed."""

    def __init__(self, spec: ModelSpec, input_shape: Shape, blocks: dict[str, Block],
                 adapters: dict[str, list[nn.Module]]) -> None:
        super().__init__()
        self.spec = spec
        self.input_shape = input_shape
        self.aux_weight = float(spec.strategy.aux_weight)
        self.adapters = nn.ModuleDict({r: nn.Sequential(*adapters[r]) for r in ROLES})
        self.first, self.core = blocks["first"], blocks["core"]
        self.final: FinalBlock = blocks["final"]  # type: ignore[assignment]

    @property
    def target(self) -> Target:
        """The target strategy (loss and decoding), owned by the final block."""
        return self.final.target

    @property
    def n_targets(self) -> int:
        return self.target.n_targets

    def features(self, x: Tensor) -> Tensor:
        """The core's output for input `x` (what the final block reads)."""
        self._check_input(x)
        x = self.first(self.adapters["first"](x))
        x = self.core(self.adapters["core"](x))
        return self.adapters["final"](x)

    def forward(self, batch: Batch | Tensor) -> Tensor:
        """Predictions (B, n_targets) on the original target scale."""
        x = batch["x"] if isinstance(batch, dict) else batch
        return self.final.predict(self.features(x))

    def training_step(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """Total loss (main + aux_weight * auxiliary) and its parts as floats (`loss_aux` only
        when a block has an auxiliary loss)."""
        x = batch["x"]
        self._check_input(x)
        aux: list[Tensor] = []
        for role in ("first", "core"):
            x, extra = getattr(self, role).training_step(self.adapters[role](x), batch)
            if extra is not None:
                aux.append(extra)
        step = self.final.training_step(self.adapters["final"](x), batch)
        if step.aux_loss is not None:
            aux.append(step.aux_loss)
        loss = step.loss
        aux_total = sum(aux[1:], aux[0]) if aux else None
        if aux_total is not None:
            loss = loss + self.aux_weight * aux_total
        parts = {"loss_main": float(step.loss.detach())}
        if aux_total is not None:  # only models with an auxiliary loss report one
            parts["loss_aux"] = float(aux_total.detach())
        return loss, parts

    @torch.no_grad()
    def init_head(self, labels: Tensor, x: Tensor | None = None) -> bool:
        """Start the final block's head at the labels' distribution (FinalBlock.init_head),
        measured in training mode on the inputs `x` (a sample of training rows) when given.
        Leaves no trace but the bias: running statistics and the random state are restored."""
        if x is None:
            return self.final.init_head(labels)
        buffers = {name: b.clone() for name, b in self.named_buffers()}
        was_training = self.training
        with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
            self.train()
            done = self.final.init_head(labels, self.features(x))
        self.train(was_training)
        for name, b in self.named_buffers():
            b.copy_(buffers[name])
        return done

    def _check_input(self, x: Tensor) -> None:
        expected = _expected_dims(self.input_shape)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"model input has shape {tuple(x.shape)}, expected (batch, *{expected}) for "
                f"{self.input_shape.kind} input"
            )


def _expected_dims(shape: Shape) -> tuple[int, ...]:
    if shape.kind == TOKENS:
        return (shape.length,)
    return (shape.channels, shape.length)


def compose(spec: ModelSpec, *, input_shape: Shape | None = None, n_targets: int = 1,
            target_stats: Stats | None = None) -> PrixFixeModel:
    """Build the model for `spec` on `input_shape` (default: the encoding's DREAM shape).

    target_stats: (mean, std) or (mean, std, min, max) per target (see targets.py: softbin maps
    [min, max] onto its 18 bins when the range is given, which is exact for DREAM's 0-17 labels).
    """
    input_shape = input_shape or default_input_shape(spec.strategy.encoding)
    if input_shape.kind not in (FEATURES, TOKENS):
        raise ConfigError(f"unknown input kind '{input_shape.kind}' ({FEATURES} or {TOKENS})")
    target = make_target(spec.strategy.target, n_targets, target_stats)
    shape = input_shape
    source = f"the '{spec.strategy.encoding}' encoding"
    blocks: dict[str, Block] = {}
    adapters: dict[str, list[nn.Module]] = {}
    for role in ROLES:
        block_spec = spec.block(role)
        where = f"{role} block '{block_spec.name}' after {source}"
        adapters[role], blocks[role] = _build(role, block_spec.name, block_spec.params, shape,
                                              target, where)
        shape = blocks[role].output_shape()
        source = f"{role} block '{block_spec.name}'"
    return PrixFixeModel(spec, input_shape, blocks, adapters)


def _build(role: str, name: str, params: dict, shape: Shape, target: Target,
           where: str) -> tuple[list[nn.Module], Block]:
    """One block behind its adapters; errors become ConfigErrors naming both parts."""
    entry = get_block(role, name)
    config = make_config(role, name, params)
    adapters, in_shape = plan_adapters(entry.cls.wants(config), shape, where)
    try:
        if role == "final":
            block = entry.cls(config, in_shape, target)
        else:
            block = entry.cls(config, in_shape)
        block.output_shape()
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"{where} (input {in_shape.describe()}) does not fit: {err}") from err
    return adapters, block


def example_batch(input_shape: Shape, n_targets: int = 1, batch_size: int = 2, *,
                  mask_fraction: float = 0.0, seed: int = 0) -> Batch:
    """A random batch of the right shapes (random bases, targets in 0-17, optional mlm labels).

    For checks that a model builds and trains (tests, `check_spec`), not for training.
    """
    gen = torch.Generator().manual_seed(seed)
    length = input_shape.length
    codes = torch.randint(0, 4, (batch_size, length), generator=gen)
    if input_shape.kind == TOKENS:
        x = codes
    else:
        x = torch.rand(batch_size, input_shape.channels, length, generator=gen)
    batch = {"x": x, "y": torch.rand(batch_size, n_targets, generator=gen) * 17.0}
    if mask_fraction > 0:
        masked = torch.rand(batch_size, length, generator=gen) < mask_fraction
        masked[:, 0] = True  # at least one masked position per row
        batch["mlm_labels"] = torch.where(masked, codes, torch.full_like(codes, IGNORE_INDEX))
    return batch


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a model (or block)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
