"""The block registry: every block by role and name, with a typed config.

A block module registers its classes with `@register_block(role, name, Config)`; `Config` is a
frozen dataclass whose fields are `param(...)`s (prixfixe_blocks/ranges.py): published default,
search range, tiny width and constraints side by side. Search spaces, presets and the CLI refer
to blocks only through these names and fields. Strategy components have their registries in
prixfixe_blocks/strategies/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import ParamName
from prixfixe_blocks.ranges import check_declarations, coerce, width_overrides
from prixfixe_blocks.spec import ROLES

T = TypeVar("T")


@dataclass(frozen=True)
class BlockEntry:
    """One registered block: its class, typed config (with its declarations) and summary."""

    role: str
    name: str
    cls: type
    config_cls: type
    doc: str


_BLOCKS: dict[tuple[str, str], BlockEntry] = {}

def register_block(role: str, name: str, config_cls: type) -> Callable[[type[T]], type[T]]:
    """Class decorator adding a block to the registry under (role, name).

    The config's declarations are checked here: every width must give a valid config.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not is_dataclass(config_cls):
        raise TypeError(f"{config_cls!r} must be a dataclass")
    check_declarations(config_cls)

    def decorate(cls: type[T]) -> type[T]:
        key = (role, name)
        if key in _BLOCKS and _BLOCKS[key].cls is not cls:
            raise ValueError(f"{role} block '{name}' registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        _BLOCKS[key] = BlockEntry(role, name, cls, config_cls, doc)
        return cls

    return decorate


def get_block(role: str, name: str) -> BlockEntry:
    """The registry entry for a block; ConfigError lists the known names if missing."""
    if role not in ROLES:
        raise ConfigError(f"unknown block role '{role}' (expected one of {', '.join(ROLES)})")
    entry = _BLOCKS.get((role, name))
    if entry is None:
        known = ", ".join(block_names(role))
        raise ConfigError(f"unknown {role} block '{name}' (known {role} blocks: {known})")
    return entry


def block_names(role: str) -> list[str]:
    """Names of the registered blocks for a role, sorted."""
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
        values[key] = coerce(value, known[key].type, f"{ParamName(role, key).spec_key} of '{name}'")
    try:
        config = entry.config_cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{role} block '{name}': {err}") from err
    return config


def width_params(role: str, name: str, width: str) -> dict[str, Any]:
    """A block's params at a width (tiny, small, published) that differ from its defaults."""
    return width_overrides(get_block(role, name).config_cls, width)

