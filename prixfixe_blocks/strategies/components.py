"""The strategy components' registries by name: one per kind (encoding, target, rc, optimizer).

A strategy component module keeps a small base class and a `Registry` of its implementations,
the way Optuna keeps samplers; `@REGISTRY.register("name")` adds one. Blocks have their own
registry (`prixfixe_blocks.blocks.registry`), keyed by role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import STRATEGY, ParamName

T = TypeVar("T")

# Strategy kind -> its registry (filled as the strategy modules are imported).
COMPONENTS: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """Named implementations of one strategy kind (`strategy.<kind>`)."""

    def __init__(self, kind: str) -> None:
        if kind in COMPONENTS:
            raise ValueError(f"a registry for strategy kind '{kind}' exists already")
        self.kind = kind
        self.key = ParamName(STRATEGY, kind).spec_key  # `strategy.<kind>`, for messages
        self._items: dict[str, T] = {}
        COMPONENTS[kind] = self

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an implementation under `name` (twice with another is an error)."""

        def decorate(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.key} '{name}' registered twice")
            self._items[name] = item
            return item

        return decorate

    def get(self, name: str) -> T:
        """The implementation named `name`; ConfigError listing the choices if unknown."""
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"unknown {self.key} '{name}' "
                              f"(choices: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        """Registered names, in registration order (published ones first)."""
        return list(self._items)


def component_names(kind: str) -> list[str]:
    """Registered names of strategy kind `kind` (what a search chooses among)."""
    return COMPONENTS[kind].names()
