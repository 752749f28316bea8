"""What every search space shares: pinned values, block widths and config -> ModelSpec.

A space is a picklable callable `space(trial) -> dict | None` (Optuna define-by-run): the values
it samples with `trial.suggest_*` and the dict it returns together form a flat ModelSpec dict
(`{"first": "bhi", "first.channels": 160, ..., "strategy.lr": 0.005}`). Spaces are instances of
classes defined in importable modules, never closures, so that Ray Tune can pickle the
OptunaSearch state by reference and restore it after a lost driver.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from prixfixe_blocks.spec import ROLES, ModelSpec, StrategySpec
from search.errors import ConfigError

WIDTHS: tuple[str, ...] = ("tiny", "small", "published")
# Keys a space may sample that are not ModelSpec keys: a strategy bundle chosen as a whole.
BUNDLE_KEYS: frozenset[str] = frozenset({"strategy"})
_STRATEGY_FIELDS = frozenset(f.name for f in fields(StrategySpec))


def canonical_key(key: str) -> str:
    """Spec key for a short name: `lr` -> `strategy.lr`; flat spec keys are kept as they are."""
    key = key.strip()
    if key in _STRATEGY_FIELDS:
        return f"strategy.{key}"
    return key


def parse_fixes(items: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """`["core=bhi", "lr=0.001"]` -> `{"core": "bhi", "strategy.lr": 0.001}`."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {canonical_key(k): v for k, v in items.items()}
    fixed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--fix '{item}' is not KEY=VALUE (e.g. core=bhi, lr=0.001)")
        fixed[canonical_key(key)] = parse_scalar(value.strip())
    return fixed


def parse_scalar(text: str) -> Any:
    """'64' -> 64, '1e-3' -> 0.001, 'true' -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def config_to_spec(config: dict[str, Any], overrides: dict[str, Any] | None = None) -> ModelSpec:
    """ModelSpec from a trial config (bundle selectors dropped), then `overrides` applied."""
    flat = {k: v for k, v in config.items() if k not in BUNDLE_KEYS}
    spec = ModelSpec.from_flat(flat)
    return spec.with_overrides(dict(overrides)) if overrides else spec


def block_params(role: str, name: str, width: str) -> dict[str, Any]:
    """A block's params at a width: tiny (registry tiny), small (between), published ({})."""
    from prixfixe_blocks.registry import get_block

    if width not in WIDTHS:
        raise ConfigError(f"unknown width '{width}' (choices: {', '.join(WIDTHS)})")
    if width == "published":
        return {}
    entry = get_block(role, name)
    if width == "tiny":
        return dict(entry.tiny)
    defaults = {f.name: f.default for f in fields(entry.config_cls)}
    return {k: _between(v, defaults.get(k)) for k, v in entry.tiny.items()}


def _between(tiny: Any, published: Any) -> Any:
    """Geometric mean of a tiny and a published width (ints and int tuples), else tiny."""
    if isinstance(tiny, bool) or not isinstance(published, type(tiny)):
        return tiny
    if isinstance(tiny, int) and tiny > 0 and published > 0:
        return max(1, round(math.sqrt(tiny * published)))
    if isinstance(tiny, tuple | list) and len(tiny) == len(published):
        return type(tiny)(_between(t, p) for t, p in zip(tiny, published, strict=True))
    return tiny


def spec_at_width(spec: ModelSpec, width: str) -> dict[str, Any]:
    """Flat form of `spec` with every scalar block field: config defaults, then the spec's own
    params, then the width's params (published keeps the spec's params)."""
    from prixfixe_blocks.registry import get_block

    flat = spec.to_flat()
    for role in ROLES:
        block = spec.block(role)
        config_cls = get_block(role, block.name).config_cls
        defaults = {f"{role}.{f.name}": f.default for f in fields(config_cls)
                    if isinstance(f.default, int | float | str | bool)}
        flat = {**defaults, **flat}
        flat.update({f"{role}.{k}": v
                     for k, v in block_params(role, block.name, width).items()})
    return flat


def _is_block_param(key: str) -> bool:
    head, _, rest = key.partition(".")
    return head in ROLES and bool(rest)


class PinnedTrial:
    """Wraps an Optuna trial: pinned names return their pinned value unsampled; records values."""

    def __init__(self, trial: Any, fixed: dict[str, Any]) -> None:
        self._trial = trial
        self._fixed = fixed
        self.values: dict[str, Any] = {}

    def __getattr__(self, item: str) -> Any:
        attr = getattr(self._trial, item)
        if not item.startswith("suggest_"):
            return attr

        def suggest(name: str, *args: Any, **kwargs: Any) -> Any:
            value = self._fixed[name] if name in self._fixed else attr(name, *args, **kwargs)
            self.values[name] = value
            return value

        return suggest


@dataclass
class SpaceFn:
    """Base of the space callables: pinning and block widths around `sample(trial)`.

    The returned constants are: each chosen block's params at `width` (lowest priority), then
    what `sample` returns, then the pinned values (highest).
    """

    width: str = "published"
    fixed: dict[str, Any] = field(default_factory=dict)

    def __call__(self, trial: Any) -> dict[str, Any]:
        pinned = PinnedTrial(trial, self.fixed)
        constants = {**(self.sample(pinned) or {}), **self.fixed}
        chosen = {**pinned.values, **constants}
        base: dict[str, Any] = {}
        for role in ROLES:
            if isinstance(chosen.get(role), str):
                params = block_params(role, chosen[role], self.width)
                base.update({f"{role}.{k}": v for k, v in params.items()})
        base = {k: v for k, v in base.items() if k not in pinned.values}
        return {**base, **constants}

    def sample(self, trial: Any) -> dict[str, Any] | None:
        """Sample with `trial.suggest_*`; return the constant part."""
        raise NotImplementedError

    def grid(self) -> dict[str, list[Any]] | None:
        """The grid (name -> choices, pinned names left out) for GridSampler, or None."""
        return None

    def points(self) -> list[dict[str, Any]]:
        """Configurations to evaluate first (the DREAM presets), as sampled-param dicts."""
        return []
