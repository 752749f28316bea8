"""Model specifications: which blocks and training strategy make a model, as plain data.

A `ModelSpec` is what a search space samples, what a Tune trial receives, what MLflow logs as
params and what a model directory stores. Its flat form is a dict of scalars keyed by spec keys
(`param_names.ParamName`): `{"first": "bhi", "first.channels": 160, "core": "autosome", ...,
"strategy.lr": 0.005}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import ROLES, STRATEGY, ParamName
from prixfixe_blocks.strategies.strategy_spec import StrategySpec, make_strategy

__all__ = ["ROLES", "BlockSpec", "ModelSpec", "StrategySpec", "make_strategy", "parse_scalar"]


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
                flat[ParamName(role, key).spec_key] = value
        for key, value in asdict(self.strategy).items():
            flat[ParamName(STRATEGY, key).spec_key] = value
        return flat

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> ModelSpec:
        """Inverse of `to_flat`; unknown strategy keys and missing block names raise ConfigError."""
        names: dict[str, str] = {}
        params: dict[str, dict[str, Any]] = {role: {} for role in ROLES}
        strategy: dict[str, Any] = {}
        for key, value in flat.items():
            name = ParamName.parse(key)
            if name is None:
                raise ConfigError(f"unknown spec key '{key}' (expected first|core|final[.param] "
                                  "or strategy.<field>)")
            if name.block is not None:
                raise ConfigError(f"'{key}' is a search name, not a spec key (its spec key: "
                                  f"{name.spec_key})")
            if name.role == STRATEGY:
                strategy[str(name.field)] = value
            elif name.field is None:
                names[name.role] = str(value)
            else:
                params[name.role][name.field] = value
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
                flat = {k: v for k, v in flat.items() if not _param_of(k, key)}
            flat[key] = value
        return ModelSpec.from_flat(flat)

    def to_json(self) -> str:
        return json.dumps(self.to_flat(), indent=2, sort_keys=True)


def _param_of(key: str, role: str) -> bool:
    """Whether spec key `key` is a param of the block chosen for `role`."""
    name = ParamName.parse(key)
    return name is not None and name.role == role and name.field is not None


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
