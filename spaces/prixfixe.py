"""The built-in spaces: `prixfixe-grid` (the paper's experiment) and `prixfixe` (everything).

`prixfixe-grid`: the paper's experiment (Rafi et al. 2024) as the Prix Fixe port ran it: one of
the three teams' port strategies as a bundle x first x core x final block of the top three teams,
each block at the port's settings (the block defaults, scaled by `--width`): 3 x 3 x 3 x 3 = 81
combinations. With Autosome.org's One Cycle strategy an attention core gets the port's lower
max learning rate.

`prixfixe`: block choices over the whole registry, each block with the hyperparameters its config
declares (prixfixe_blocks/ranges.py), plus the strategy fields StrategySpec declares. Nothing
here knows a block's or strategy's fields: a registered block is searched as it declares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from prixfixe_blocks.blocks.registry import block_names, get_block
from prixfixe_blocks.param_names import STRATEGY, ParamName
from prixfixe_blocks.presets import PORT_STRATEGIES, get_preset, port_strategy, preset_names
from prixfixe_blocks.ranges import Dist, distributions
from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.strategies.components import component_names
from prixfixe_blocks.strategies.strategy_spec import RUN_FIELDS, StrategySpec
from spaces.base import SpaceFn, spec_at_width

TEAMS: tuple[str, ...] = ("autosome", "bhi", "unlockdna")


def team_strategy(team: str, core: str) -> dict[str, Any]:
    """The port's strategy of `team` for `core` as flat `strategy.*` keys (run-level fields
    left out)."""
    strategy = asdict(port_strategy(team, core))
    return {ParamName(STRATEGY, k).spec_key: v for k, v in strategy.items()
            if k not in RUN_FIELDS}


def dream_presets() -> list[str]:
    """Names of the DREAM-optimized presets (the paper's best), in registry order."""
    return [name for name in preset_names() if name.startswith("dream")]


def _team_blocks(role: str) -> list[str]:
    names = block_names(role)
    return [team for team in TEAMS if team in names]


@dataclass
class PrixfixeGridSpace(SpaceFn):
    """Port strategy bundle x first x core x final of the top three teams, at port settings."""

    def choices(self) -> dict[str, list[Any]]:
        """Every categorical dimension of the grid (before pinning)."""
        teams = [t for t in TEAMS if t in PORT_STRATEGIES]
        return {"strategy": teams, **{role: _team_blocks(role) for role in ROLES}}

    def sample(self, trial: Any) -> dict[str, Any]:
        picked = {name: trial.suggest_categorical(name, opts)
                  for name, opts in self.choices().items()}
        return team_strategy(picked["strategy"], picked["core"])

    def grid(self) -> dict[str, list[Any]]:
        return {k: v for k, v in self.choices().items() if k not in self.fixed}


def block_distributions(role: str, name: str, width: str) -> dict[str, Dist]:
    """A block's searched fields at `width`, by search name (`core.bhi.hidden`)."""
    dists = distributions(get_block(role, name).config_cls, width)
    return {ParamName(role, key, name).search_name: dist for key, dist in dists.items()}


def strategy_distributions(width: str) -> dict[str, Dist]:
    """The strategy's searched fields, by search name (`strategy.lr`)."""
    dists = distributions(StrategySpec, width, component_names)
    return {ParamName(STRATEGY, key).spec_key: dist for key, dist in dists.items()}


@dataclass
class PrixfixeSpace(SpaceFn):
    """Blocks with their declared hyperparameters, and the strategy's declared fields."""

    def sample(self, trial: Any) -> dict[str, Any]:
        for role in ROLES:
            name = trial.suggest_categorical(role, block_names(role))
            for key, dist in block_distributions(role, name, self.width).items():
                suggest(trial, key, dist)
        for key, dist in strategy_distributions(self.width).items():
            suggest(trial, key, dist)
        return {}

    def points(self) -> list[dict[str, Any]]:
        """The DREAM presets at the space's width (see `named_points`), each once."""
        points: list[dict[str, Any]] = []
        for point in self.named_points().values():
            if point not in points:
                points.append(point)
        return points

    def named_points(self) -> dict[str, dict[str, Any]]:
        """Each DREAM preset at the space's width, as values of the names this space samples."""
        named = {}
        for name in dream_presets():
            flat = spec_at_width(get_preset(name), self.width)
            point: dict[str, Any] = {}
            for role in ROLES:
                block = flat[role]
                point[role] = block
                for field in distributions(get_block(role, block).config_cls, self.width):
                    param = ParamName(role, field, block)
                    point[param.search_name] = flat[param.spec_key]
            point.update({k: flat[k] for k in strategy_distributions(self.width)})
            named[name] = {k: v for k, v in point.items() if k not in self.fixed}
        return named


def suggest(trial: Any, name: str, dist: Dist) -> Any:
    """Sample `name` from a declared distribution with the matching `trial.suggest_*`."""
    if dist.kind == "categorical":
        return trial.suggest_categorical(name, list(dist.choices))
    if dist.kind == "int":
        step = dist.step or 1
        return trial.suggest_int(name, dist.low, dist.high, step=step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
