"""Model specifications: which blocks and training strategy make a model, as plain data.

A `ModelSpec` is what a search space samples, what a Tune trial receives, what MLflow logs as
params and what a model directory stores. Its flat form is a dict of scalars:
`{"first": "bhi", "first.channels": 160, "core": "autosome", ..., "strategy.lr": 0.005}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from search.errors import ConfigError

ROLES: tuple[str, str, str] = ("first", "core", "final")

# Strategy components (each separately choosable by a search) and their options.
STRATEGY_CHOICES: dict[str, tuple[str, ...]] = {
    "encoding": ("autosome", "bhi", "unlockdna"),
    "target": ("softbin", "huber", "mse"),
    "rc": ("augment", "both", "none"),
    "optimizer": ("adamw_onecycle", "adamw_cosine", "adam_warmup"),
}


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
class BlockSpec:
    """A block chosen by registry name, with hyperparameters overriding its published defaults."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StrategySpec:
    """The training strategy (data processor + trainer), each component separately choosable.

    encoding: "autosome" (plasmid 150 bp + is_reverse + is_singleton channels), "bhi" (110 bp,
      random vector padding), "unlockdna" (200 tokens: sequence + reverse complement).
    target: "softbin" (18-bin soft labels, KL), "huber" / "mse" (standardized target).
    rc: "augment" (random strand per sample), "both" (loss averaged over both strands), "none".
      Prediction always averages the forward and reverse-complement strands.
    optimizer: "adamw_onecycle", "adamw_cosine", "adam_warmup".
    mask_fraction: masked-nucleotide auxiliary loss fraction (0 disables; used by token heads).
    """

    encoding: str = "autosome"
    target: str = "softbin"
    rc: str = "augment"
    optimizer: str = "adamw_onecycle"
    lr: float = 0.005
    weight_decay: float = 0.01
    batch_size: int = 1024
    epochs: int = 80
    batches_per_epoch: int | None = 1000
    mask_fraction: float = 0.0
    aux_weight: float = 1.0
    grad_clip: float | None = None
    warmup_steps: int = 12_500


_STRATEGY_FIELDS = {f.name: f for f in fields(StrategySpec)}


@dataclass(frozen=True)
class ModelSpec:
    """First layers + core + final layers + training strategy."""

    first: BlockSpec
    core: BlockSpec
    final: BlockSpec
    strategy: StrategySpec = field(default_factory=StrategySpec)

    def block(self, role: str) -> BlockSpec:
        """The block chosen for `role` ("first", "core" or "final")."""
        if role not in ROLES:
            raise ConfigError(f"unknown block role '{role}' (expected one of {', '.join(ROLES)})")
        return getattr(self, role)

    def to_flat(self) -> dict[str, Any]:
        """Flat dict of scalars (Tune config, MLflow params, search-space values)."""
        flat: dict[str, Any] = {}
        for role in ROLES:
            block = self.block(role)
            flat[role] = block.name
            for key, value in sorted(block.params.items()):
                flat[f"{role}.{key}"] = value
        for key, value in asdict(self.strategy).items():
            flat[f"strategy.{key}"] = value
        return flat

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> ModelSpec:
        """Inverse of `to_flat`; unknown strategy keys and missing block names raise ConfigError."""
        names: dict[str, str] = {}
        params: dict[str, dict[str, Any]] = {role: {} for role in ROLES}
        strategy: dict[str, Any] = {}
        for key, value in flat.items():
            head, _, rest = key.partition(".")
            if head in ROLES and not rest:
                names[head] = str(value)
            elif head in ROLES:
                params[head][rest] = value
            elif head == "strategy" and rest:
                strategy[rest] = value
            else:
                raise ConfigError(
                    f"unknown spec key '{key}' (expected first|core|final[.param] or "
                    "strategy.<field>)"
                )
        missing = [role for role in ROLES if role not in names]
        if missing:
            raise ConfigError(f"spec names no block for: {', '.join(missing)}")
        return cls(
            **{role: BlockSpec(names[role], params[role]) for role in ROLES},
            strategy=make_strategy(strategy),
        )

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> ModelSpec:
        """Apply `KEY=VALUE` overrides (`core=bhi`, `core.hidden=64`, `strategy.lr=0.002`).

        Changing a block's name drops the old block's params (they belong to the old block).
        """
        items = overrides.items() if isinstance(overrides, dict) else map(_split_kv, overrides)
        flat = self.to_flat()
        for key, value in items:
            if key in ROLES and value != flat.get(key):
                flat = {k: v for k, v in flat.items() if not k.startswith(f"{key}.")}
            flat[key] = value
        return ModelSpec.from_flat(flat)

    def to_json(self) -> str:
        return json.dumps(self.to_flat(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_flat(json.loads(text))


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
        options = STRATEGY_CHOICES.get(key)
        if options is not None and coerced[key] not in options:
            raise ConfigError(
                f"unknown strategy.{key} '{value}' (choices: {', '.join(options)})"
            )
    return replace(StrategySpec(), **coerced)


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Coerce `value` (possibly a string from the command line) to a field's annotated type."""
    text = str(annotation)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if "None" in text:
            return None
        if value is None or not text.startswith("str"):  # "none" is a valid str (strategy.rc)
            raise ConfigError(f"{where}: None is not allowed")
    try:
        if text.startswith("bool"):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return bool(value)
        if text.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if text.startswith("float"):
            return float(value)
        if text.startswith("str"):
            return str(value)
        if text.startswith("tuple") or text.startswith("list"):
            if isinstance(value, str):
                value = json.loads(value if value.startswith("[") else f"[{value}]")
            return tuple(value)
    except (TypeError, ValueError, json.JSONDecodeError) as err:
        raise ConfigError(f"{where}: cannot read {value!r} as {text}") from err
    return value


def _split_kv(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{item}' is not KEY=VALUE")
    return key.strip(), _parse_scalar(value.strip())


def _parse_scalar(text: str) -> Any:
    """'64' -> 64, '1e-3' -> 0.001, 'true' -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
