"""Registries by name: one per strategy kind (encoding, target, rc, optimizer), and value coercion.

A strategy component module keeps a small base class and a `Registry` of its implementations,
the way Optuna keeps samplers; `@REGISTRY.register("name")` adds one. Blocks have their own
registry (`prixfixe_blocks.blocks.registry`), keyed by role. `coerce` reads a config value
(possibly a command-line string) as its field's annotated type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from prixfixe_blocks.errors import ConfigError

T = TypeVar("T")

# Strategy kind -> its registry (filled as the strategy modules are imported).
COMPONENTS: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """Named implementations of one strategy kind (`strategy.<kind>`)."""

    def __init__(self, kind: str) -> None:
        if kind in COMPONENTS:
            raise ValueError(f"a registry for strategy kind '{kind}' exists already")
        self.kind = kind
        self._items: dict[str, T] = {}
        COMPONENTS[kind] = self

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an implementation under `name` (twice with another is an error)."""

        def decorate(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"strategy.{self.kind} '{name}' registered twice")
            self._items[name] = item
            return item

        return decorate

    def get(self, name: str) -> T:
        """The implementation named `name`; ConfigError listing the choices if unknown."""
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"unknown strategy.{self.kind} '{name}' "
                              f"(choices: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        """Registered names, in registration order (published ones first)."""
        return list(self._items)


def component_names(kind: str) -> list[str]:
    """Registered names of strategy kind `kind` (what a search chooses among)."""
    return COMPONENTS[kind].names()


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
