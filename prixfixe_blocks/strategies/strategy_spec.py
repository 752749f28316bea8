"""The training strategy as plain data: which components, and the trainer's settings.

Each field declares its search range beside its published default (Autosome.org's strategy):
the components are choices among their registries' names, the optimizer settings are ranges,
the run-length fields are set by the run, never searched.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import STRATEGY, ParamName
from prixfixe_blocks.ranges import Choice, Floats, coerce, param
from prixfixe_blocks.strategies.components import COMPONENTS

# The strategy kinds, each a registry of components (input_encodings.py, targets.py, rc.py,
# optim.py).
KINDS: tuple[str, ...] = ("encoding", "target", "rc", "optimizer")
BATCH_SIZES: tuple[int, ...] = (128, 256, 512, 1024)
# Fields set by the run (its length), never by a search space or a strategy bundle.
RUN_FIELDS: frozenset[str] = frozenset({"epochs", "batches_per_epoch"})
# How a run sets the epoch length (`--schedule`): "pass" = one pass over the training rows per
# epoch (the default of `train` and `run`, right for any data size); "published" = the spec's
# own batches_per_epoch (Autosome.org's 1000 x 1024 from 6.7M rows; None where a team trained
# in passes).
SCHEDULES: tuple[str, ...] = ("pass", "published")


@dataclass(frozen=True)
class StrategySpec:
    """The training strategy (data processor + trainer), each component separately choosable.

    encoding: how sequences become model input (input_encodings.py); target: how labels
    become a loss and outputs a prediction (targets.py); rc: how the reverse-complement strand
    is used in training (rc.py; prediction always averages both strands); optimizer: optimizer
    and per-batch schedule (optim.py). mask_fraction: masked-nucleotide auxiliary loss fraction
    (0 disables; used by token heads). epochs / batches_per_epoch: the run's length as
    published; an epoch of N batches streams through the rows (every batch full), None is one
    pass over them (its last batch short).
    """

    encoding: str = param("autosome", search=Choice(registry="encoding"))
    target: str = param("softbin", search=Choice(registry="target"))
    rc: str = param("augment", search=Choice(registry="rc"))
    optimizer: str = param("adamw_onecycle", search=Choice(registry="optimizer"))
    lr: float = param(0.005, search=Floats(1e-4, 1e-2, log=True))
    weight_decay: float = param(0.01, search=Floats(1e-4, 1e-1, log=True))
    batch_size: int = param(1024, search=Choice(BATCH_SIZES))
    epochs: int = param(80)
    # Batches per epoch of the published schedule (None: one pass over the training rows).
    # Runs use one pass unless asked for `--schedule published` (see `schedule_overrides`).
    batches_per_epoch: int | None = param(1000)
    mask_fraction: float = param(0.0)
    aux_weight: float = param(1.0)
    grad_clip: float | None = param(None)
    warmup_steps: int = param(12_500)


STRATEGY_FIELDS = {f.name: f for f in fields(StrategySpec)}  # field name -> its declaration


def make_strategy(values: dict[str, Any]) -> StrategySpec:
    """StrategySpec from a dict, coercing value types and naming any unknown or bad field."""
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        spec_field = STRATEGY_FIELDS.get(key)
        if spec_field is None:
            raise ConfigError(
                f"unknown strategy field '{key}' (known: {', '.join(STRATEGY_FIELDS)})"
            )
        coerced[key] = coerce(value, spec_field.type, ParamName(STRATEGY, key).spec_key)
        if key in KINDS:
            COMPONENTS[key].get(coerced[key])
    return replace(StrategySpec(), **coerced)


def schedule_overrides(schedule: str, batches_per_epoch: int | None = None) -> dict[str, Any]:
    """Spec overrides that give a run its epoch length: an explicit `batches_per_epoch` wins;
    else "pass" makes every epoch one pass over the training rows and "published" keeps the
    spec's own value (SCHEDULES)."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule '{schedule}' (known: {', '.join(SCHEDULES)})")
    if batches_per_epoch is not None:
        if batches_per_epoch < 1:
            raise ConfigError(f"batches per epoch must be >= 1, got {batches_per_epoch}")
        return {"strategy.batches_per_epoch": int(batches_per_epoch)}
    return {"strategy.batches_per_epoch": None} if schedule == "pass" else {}
