"""The training strategy as plain data: which components, and the trainer's settings.

Each field declares its search range beside its published default (Autosome.org's strategy):
the components are choices among their registries' names, the optimizer settings are ranges,
the run-length fields are set by the run, never searched.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.ranges import Choice, Floats, param
from prixfixe_blocks.registry import COMPONENTS, coerce

# The strategy kinds, each a registry of components (encodings.py, targets.py, rc.py, optim.py).
KINDS: tuple[str, ...] = ("encoding", "target", "rc", "optimizer")
BATCH_SIZES: tuple[int, ...] = (128, 256, 512, 1024)
# Fields set by the run (its length), never by a search space or a strategy bundle.
RUN_FIELDS: frozenset[str] = frozenset({"epochs", "batches_per_epoch"})


@dataclass(frozen=True)
class InputShape:
    """What the strategy's encoding feeds the first block.

    kind "features": float (batch, channels, length); kind "tokens": long (batch, length) with
    `channels` = vocabulary size (A C G T N M = 6).
    """

    kind: str
    channels: int
    length: int


@dataclass(frozen=True)
class StrategySpec:
    """The training strategy (data processor + trainer), each component separately choosable.

    encoding: how sequences become model input (strategies/encodings.py); target: how labels
    become a loss and outputs a prediction (targets.py); rc: how the reverse-complement strand
    is used in training (rc.py; prediction always averages both strands); optimizer: optimizer
    and per-batch schedule (optim.py). mask_fraction: masked-nucleotide auxiliary loss fraction
    (0 disables; used by token heads).
    """

    encoding: str = param("autosome", search=Choice(registry="encoding"))
    target: str = param("softbin", search=Choice(registry="target"))
    rc: str = param("augment", search=Choice(registry="rc"))
    optimizer: str = param("adamw_onecycle", search=Choice(registry="optimizer"))
    lr: float = param(0.005, search=Floats(1e-4, 1e-2, log=True))
    weight_decay: float = param(0.01, search=Floats(1e-4, 1e-1, log=True))
    batch_size: int = param(1024, search=Choice(BATCH_SIZES))
    epochs: int = param(80)
    batches_per_epoch: int | None = param(1000)
    mask_fraction: float = param(0.0)
    aux_weight: float = param(1.0)
    grad_clip: float | None = param(None)
    warmup_steps: int = param(12_500)


_STRATEGY_FIELDS = {f.name: f for f in fields(StrategySpec)}


def make_strategy(values: dict[str, Any]) -> StrategySpec:
    """StrategySpec from a dict, coercing value types and naming any unknown or bad field."""
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        spec_field = _STRATEGY_FIELDS.get(key)
        if spec_field is None:
            raise ConfigError(
                f"unknown strategy field '{key}' (known: {', '.join(_STRATEGY_FIELDS)})"
            )
        coerced[key] = coerce(value, spec_field.type, f"strategy.{key}")
        if key in KINDS:
            COMPONENTS[key].get(coerced[key])
    return replace(StrategySpec(), **coerced)
