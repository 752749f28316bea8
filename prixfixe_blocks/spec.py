"""Model specifications: which blocks and training strategy make a model, as plain data.

A `ModelSpec` is what a search space samples, what a Tune trial receives, what MLflow logs as
params and what a model directory stores. Its flat form is a dict of scalars:
`{"first": "bhi", "first.channels": 160, "core": "autosome", ..., "strategy.lr": 0.005}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.strategies.spec import InputShape, StrategySpec, make_strategy

__all__ = ["ROLES", "BlockSpec", "InputShape", "ModelSpec", "StrategySpec", "make_strategy",
           "parse_scalar"]

ROLES: tuple[str, str, str] = ("first", "core", "final")


@dataclass(frozen=True)
class BlockSpec:
    """A block chosen by registry name, with hyperparameters overriding its published defaults."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


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


def _split_kv(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{item}' is not KEY=VALUE")
    return key.strip(), parse_scalar(value.strip())


def parse_scalar(text: str) -> Any:
    """'64' -> 64, '1e-3' -> 0.001, 'true' -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
