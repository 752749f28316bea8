"""Plugins: user modules that register their own blocks or strategy components.

A plugin is a Python file (or an importable module name) whose import registers blocks with
`@register_block` or components with a strategy registry's `@register`. A search passes its
plugins to every trial, so workers on any node register the same names before building a model.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from prixfixe_blocks.errors import ConfigError


def load_plugins(plugins: Sequence[str]) -> list[ModuleType]:
    """Import each plugin once per process (a .py path, or a dotted module name)."""
    return [_load(plugin) for plugin in plugins]


def _load(plugin: str) -> ModuleType:
    if not plugin.endswith(".py"):
        try:
            return importlib.import_module(plugin)
        except ImportError as err:
            raise ConfigError(f"plugin '{plugin}': cannot import it ({err})") from None
    path = Path(plugin).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"plugin file not found: {path}")
    name = f"prixfixe_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    return import_file(path, name, "plugin")


def import_file(path: Path, name: str, what: str) -> ModuleType:
    """Execute a Python file as module `name` (kept in sys.modules); ConfigError naming the
    file and what the user's code raised if it fails."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import this file as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: report whatever it raised, in one line
        del sys.modules[name]
        raise ConfigError(f"{path}: importing the {what} failed: {type(err).__name__}: {err}") \
            from err
    return module
