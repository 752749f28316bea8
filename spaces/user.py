"""User spaces from a YAML file (schema in docs/SEARCH.md) or a Python file defining `space`.

YAML:
    params:                      # evaluated in file order
      first: {choice: [bhi, autosome]}
      final: autosome            # a plain value is a constant
      strategy.lr: {float: [0.0005, 0.005], log: true}
      core.hidden: {int: [32, 128], step: 32, when: {core: bhi}}
    points:                      # optional: configurations to try first
      - {first: bhi, strategy.lr: 0.001}

Python: a file defining `space(trial) -> dict | None`, optionally `GRID` (name -> choices, for
`--sampler grid`) and `POINTS` (a list of dicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.plugins import import_file
from spaces.base import SpaceFn, canonical_key

KINDS: tuple[str, ...] = ("choice", "int", "float")
OPTIONS: frozenset[str] = frozenset({"log", "step", "when"})


@dataclass
class YamlSpace(SpaceFn):
    """A space read from YAML: constants, choices, int/float ranges, `when` conditions."""

    path: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    given_points: list[dict[str, Any]] = field(default_factory=list)

    def sample(self, trial: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for name, rule in self.params.items():
            if isinstance(rule, dict) and not _when_holds(rule.get("when"), values):
                continue
            if not isinstance(rule, dict):
                values[name] = constants[name] = rule
            elif "choice" in rule:
                values[name] = trial.suggest_categorical(name, list(rule["choice"]))
            else:
                kind = "int" if "int" in rule else "float"
                low, high = rule[kind]
                kwargs = {k: rule[k] for k in ("log", "step") if k in rule}
                values[name] = getattr(trial, f"suggest_{kind}")(name, low, high, **kwargs)
        return constants

    def grid(self) -> dict[str, list[Any]] | None:
        if any(isinstance(r, dict) and ("when" in r or "choice" not in r)
               for r in self.params.values()):
            return None
        return {name: list(rule["choice"]) for name, rule in self.params.items()
                if isinstance(rule, dict) and name not in self.fixed}

    def points(self) -> list[dict[str, Any]]:
        return [dict(p) for p in self.given_points]


def _when_holds(when: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    if not when:
        return True
    for key, wanted in when.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if values.get(canonical_key(key)) not in options:
            return False
    return True


def load_yaml_space(path: Path, *, width: str, fixed: dict[str, Any]) -> YamlSpace:
    """Read and validate a YAML space; ConfigError names the file and the bad parameter."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict):
        raise ConfigError(f"{path}: a space file needs a 'params:' mapping")
    unknown = set(doc) - {"params", "points"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    params: dict[str, Any] = {}
    for raw_name, rule in doc["params"].items():
        name = canonical_key(str(raw_name))
        params[name] = _check_rule(path, name, rule, seen=params)
    points = doc.get("points") or []
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ConfigError(f"{path}: 'points' must be a list of mappings")
    points = [{canonical_key(str(k)): v for k, v in p.items()} for p in points]
    return YamlSpace(width=width, fixed=fixed, path=str(path), params=params,
                     given_points=points)


def _check_rule(path: Path, name: str, rule: Any, *, seen: dict[str, Any]) -> Any:
    if not isinstance(rule, dict):
        return rule
    where = f"{path}: parameter '{name}'"
    kinds = [k for k in KINDS if k in rule]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(KINDS)}")
    extra = set(rule) - OPTIONS - set(kinds)
    if extra:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(sorted(extra))}")
    kind, spec = kinds[0], rule[kinds[0]]
    if kind == "choice" and (not isinstance(spec, list) or not spec):
        raise ConfigError(f"{where}: 'choice' needs a non-empty list")
    if kind != "choice" and not _is_range(spec, int if kind == "int" else (int, float)):
        raise ConfigError(f"{where}: '{kind}' needs [low, high] numbers with low <= high")
    when = rule.get("when")
    if when is not None:
        if not isinstance(when, dict):
            raise ConfigError(f"{where}: 'when' must map earlier parameters to values")
        for key in when:
            if canonical_key(str(key)) not in seen:
                raise ConfigError(f"{where}: 'when' refers to '{key}', not defined above it")
    return dict(rule)


def _is_range(spec: Any, types: type | tuple[type, ...]) -> bool:
    return (isinstance(spec, list) and len(spec) == 2
            and all(isinstance(v, types) and not isinstance(v, bool) for v in spec)
            and spec[0] <= spec[1])


@dataclass
class PythonSpace(SpaceFn):
    """A space from a Python file's `space(trial)`; the file is re-read after unpickling."""

    path: str = ""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_module"}

    def module(self) -> ModuleType:
        """The user's module, loaded once per process."""
        if getattr(self, "_module", None) is None:
            self._module = load_python_module(Path(self.path))
        return self._module

    def sample(self, trial: Any) -> dict[str, Any] | None:
        return self.module().space(trial)

    def grid(self) -> dict[str, list[Any]] | None:
        grid = getattr(self.module(), "GRID", None)
        return None if grid is None else {k: list(v) for k, v in grid.items()
                                          if k not in self.fixed}

    def points(self) -> list[dict[str, Any]]:
        return [dict(p) for p in getattr(self.module(), "POINTS", [])]


def load_python_module(path: Path) -> ModuleType:
    """Import a space file by path; ConfigError if it cannot be imported or has no `space`."""
    module = import_file(path, f"prixfixe_user_space_{path.stem}", "space")
    if not callable(getattr(module, "space", None)):
        raise ConfigError(f"{path}: defines no function 'space(trial)'")
    return module
