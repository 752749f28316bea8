"""What every search space shares: pinned values, block widths and config -> ModelSpec.

A space is a picklable callable `space(trial) -> dict | None` (Optuna define-by-run): the values
it samples with `trial.suggest_*` and the dict it returns together form a trial config. A block's
field is sampled under its search name (`core.camformers.channels`, `param_names.ParamName`), so
every sampled name has one distribution; `config_to_spec` keeps the chosen blocks' fields and
makes the flat ModelSpec (`{"first": "bhi", "first.channels": 160, ..., "strategy.lr": 0.005}`);
plain spec keys (`core.hidden`, as user spaces write them) are taken as they are. Spaces are
instances of classes defined in importable modules, never closures, so that Ray Tune can pickle
the OptunaSearch state by reference and restore it after a lost driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from prixfixe_blocks.blocks.registry import get_block, width_params
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import STRATEGY, ParamName
from prixfixe_blocks.ranges import WIDTHS, default_of
from prixfixe_blocks.spec import ROLES, ModelSpec, parse_scalar
from prixfixe_blocks.strategies.strategy_spec import STRATEGY_FIELDS

__all__ = ["WIDTHS", "SpaceFn", "config_to_spec", "parse_fixes", "spec_at_width"]
# Keys a space may sample that are not ModelSpec keys: a strategy bundle chosen as a whole.
BUNDLE_KEYS: frozenset[str] = frozenset({STRATEGY})


def canonical_key(key: str) -> str:
    """Spec key for a short name: `lr` -> `strategy.lr`; flat spec keys are kept as they are."""
    key = key.strip()
    return ParamName(STRATEGY, key).spec_key if key in STRATEGY_FIELDS else key


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


def config_to_spec(config: dict[str, Any], overrides: dict[str, Any] | None = None) -> ModelSpec:
    """ModelSpec from a trial config: the chosen blocks' fields (other blocks' dropped), plain
    spec keys over them, bundle selectors dropped; then `overrides` applied."""
    qualified: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for key, value in config.items():
        if key in BUNDLE_KEYS:
            continue
        name = ParamName.parse(key)
        if name is None or name.block is None:
            plain[key] = value
        elif config.get(name.role) == name.block:
            qualified[name.spec_key] = value
    spec = ModelSpec.from_flat({**qualified, **plain})
    return spec.with_overrides(dict(overrides)) if overrides else spec


def spec_at_width(spec: ModelSpec, width: str) -> dict[str, Any]:
    """Flat form of `spec` with every scalar block field: config defaults, then the spec's own
    params, then the width's params (published keeps the spec's params)."""
    flat = spec.to_flat()
    for role in ROLES:
        block = spec.block(role)
        defaults = {ParamName(role, f.name).spec_key: default_of(f)
                    for f in fields(get_block(role, block.name).config_cls)
                    if isinstance(default_of(f), int | float | str | bool)}
        flat = {**defaults, **flat}
        flat.update({ParamName(role, k).spec_key: v
                     for k, v in width_params(role, block.name, width).items()})
    return flat


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
            key = _pin_key(name, self._fixed)
            value = self._fixed[key] if key is not None else attr(name, *args, **kwargs)
            self.values[name] = value
            return value

        return suggest


def _pin_key(name: str, fixed: dict[str, Any]) -> str | None:
    """The pinned key for a sampled name: itself, or for `core.bhi.hidden` also `core.hidden`."""
    if name in fixed:
        return name
    param = ParamName.parse(name)
    if param is not None and param.block is not None and param.spec_key in fixed:
        return param.spec_key
    return None


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
                params = width_params(role, chosen[role], self.width)
                base.update({ParamName(role, k, chosen[role]).search_name: v
                             for k, v in params.items()})
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

    def named_points(self) -> dict[str, dict[str, Any]]:
        """The points by name (a preset's name where the space knows it, else `point-N`):
        what a refit compares its configurations with."""
        return {f"point-{i}": point for i, point in enumerate(self.points(), 1)}
