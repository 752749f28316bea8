"""The registry: every block and strategy component by name, with a typed config.

A block module registers its classes with `@register_block(role, name, Config, tiny={...})`;
`Config` is a dataclass whose defaults are the published values. Search spaces, presets and the
CLI refer to blocks only through these names and config fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

from prixfixe_blocks.spec import ROLES, STRATEGY_CHOICES, coerce
from search.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class BlockEntry:
    """One registered block: its class, typed config and small-width params for quick runs."""

    role: str
    name: str
    cls: type
    config_cls: type
    tiny: dict[str, Any]
    doc: str


_BLOCKS: dict[tuple[str, str], BlockEntry] = {}

def register_block(
    role: str, name: str, config_cls: type, *, tiny: dict[str, Any] | None = None
) -> Callable[[type[T]], type[T]]:
    """Class decorator adding a block to the registry under (role, name)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not is_dataclass(config_cls):
        raise TypeError(f"{config_cls!r} must be a dataclass")

    def decorate(cls: type[T]) -> type[T]:
        key = (role, name)
        if key in _BLOCKS and _BLOCKS[key].cls is not cls:
            raise ValueError(f"{role} block '{name}' registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        _BLOCKS[key] = BlockEntry(role, name, cls, config_cls, dict(tiny or {}), doc)
        return cls

    return decorate


def _load_blocks() -> None:
    """Import the team modules so that their decorators run."""
    import prixfixe_blocks.blocks  # noqa: F401


def get_block(role: str, name: str) -> BlockEntry:
    """The registry entry for a block; ConfigError lists the known names if missing."""
    _load_blocks()
    if role not in ROLES:
        raise ConfigError(f"unknown block role '{role}' (expected one of {', '.join(ROLES)})")
    entry = _BLOCKS.get((role, name))
    if entry is None:
        known = ", ".join(block_names(role))
        raise ConfigError(f"unknown {role} block '{name}' (known {role} blocks: {known})")
    return entry


def block_names(role: str) -> list[str]:
    """Names of the registered blocks for a role, sorted."""
    _load_blocks()
    return sorted(name for (r, name) in _BLOCKS if r == role)


def make_config(role: str, name: str, params: dict[str, Any]) -> Any:
    """Typed config for a block: published defaults overridden by `params` (coerced, checked)."""
    entry = get_block(role, name)
    known = {f.name: f for f in fields(entry.config_cls)}
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key not in known:
            raise ConfigError(
                f"{role} block '{name}' has no parameter '{key}' "
                f"(parameters: {', '.join(known) or 'none'})"
            )
        values[key] = coerce(value, known[key].type, f"{role}.{key} of '{name}'")
    try:
        config = entry.config_cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{role} block '{name}': {err}") from err
    return config


def tiny_params(role: str, name: str) -> dict[str, Any]:
    """Small-width params of a block, for tests and quick searches."""
    return dict(get_block(role, name).tiny)


def strategy_choices() -> dict[str, tuple[str, ...]]:
    """The choosable strategy components and their options."""
    return dict(STRATEGY_CHOICES)
