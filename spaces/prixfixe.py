"""The built-in spaces: `prixfixe-grid` (the paper's experiment) and `prixfixe` (everything).

`prixfixe-grid`: one of the three teams' training strategies as a bundle x first x core x final
block of the top three teams, each block at its published settings (scaled by `--width`):
3 x 3 x 3 x 3 = 81 combinations, like Rafi et al. 2024.

`prixfixe`: block choices over the whole registry, each with its own conditional
hyperparameters derived from its config dataclass, plus the strategy components.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from prixfixe_blocks.spec import ROLES, STRATEGY_CHOICES
from spaces.base import SpaceFn, block_params, spec_at_width

TEAMS: tuple[str, ...] = ("autosome", "bhi", "unlockdna")
# Strategy fields that belong to the run, not to the searched configuration.
RUN_FIELDS: frozenset[str] = frozenset({"epochs", "batches_per_epoch"})
BATCH_SIZES: list[int] = [128, 256, 512, 1024]
# Ratios whose valid values depend on other fields (group sizes): kept at their setting.
FIXED_FIELDS: frozenset[str] = frozenset({"expansion", "ff_mult", "filters_per_group",
                                          "se_reduction"})
LR_RANGE: tuple[float, float] = (1e-4, 1e-2)
WEIGHT_DECAY_RANGE: tuple[float, float] = (1e-4, 1e-1)


def team_strategy(team: str) -> dict[str, Any]:
    """A team preset's StrategySpec as flat `strategy.*` keys (run-level fields left out)."""
    from prixfixe_blocks.presets import get_preset

    flat = get_preset(team).to_flat()
    return {
        k: v for k, v in flat.items()
        if k.startswith("strategy.") and k.split(".", 1)[1] not in RUN_FIELDS
    }


def dream_presets() -> list[str]:
    """Names of the DREAM-optimized presets (the paper's best), in registry order."""
    from prixfixe_blocks.presets import preset_names

    return [name for name in preset_names() if name.startswith("dream")]


def _team_blocks(role: str) -> list[str]:
    from prixfixe_blocks.registry import block_names

    names = block_names(role)
    return [team for team in TEAMS if team in names]


@dataclass
class PrixfixeGridSpace(SpaceFn):
    """Strategy bundle x first x core x final of the top three teams, at published settings."""

    def choices(self) -> dict[str, list[Any]]:
        """Every categorical dimension of the grid (before pinning)."""
        from prixfixe_blocks.presets import preset_names

        teams = [t for t in TEAMS if t in preset_names()]
        return {"strategy": teams, **{role: _team_blocks(role) for role in ROLES}}

    def sample(self, trial: Any) -> dict[str, Any]:
        picked = {name: trial.suggest_categorical(name, opts)
                  for name, opts in self.choices().items()}
        return team_strategy(picked["strategy"])

    def grid(self) -> dict[str, list[Any]]:
        return {k: v for k, v in self.choices().items() if k not in self.fixed}


@dataclass
class PrixfixeSpace(SpaceFn):
    """Blocks with their conditional hyperparameters, strategy components and optimizer."""

    def sample(self, trial: Any) -> dict[str, Any]:
        from prixfixe_blocks.registry import block_names

        for role in ROLES:
            name = trial.suggest_categorical(role, block_names(role))
            for key, dist in block_distributions(role, name, self.width).items():
                _suggest(trial, f"{role}.{key}", dist)
        for component, options in STRATEGY_CHOICES.items():
            trial.suggest_categorical(f"strategy.{component}", list(options))
        trial.suggest_float("strategy.lr", *LR_RANGE, log=True)
        trial.suggest_float("strategy.weight_decay", *WEIGHT_DECAY_RANGE, log=True)
        trial.suggest_categorical("strategy.batch_size", BATCH_SIZES)
        return {}

    def points(self) -> list[dict[str, Any]]:
        from prixfixe_blocks.presets import get_preset

        points = []
        for name in dream_presets():
            flat = spec_at_width(get_preset(name), self.width)
            point = {k: v for k, v in flat.items()
                     if k not in self.fixed and k.split(".", 1)[-1] not in RUN_FIELDS}
            if point not in points:
                points.append(point)
        return points


def block_distributions(role: str, name: str, width: str) -> dict[str, tuple]:
    """Searchable hyperparameters of a block: field -> (kind, args, kwargs) around its width.

    Widths scale from half to twice their value (multiples of 8 stay multiples of 8, for
    attention heads), kernel sizes move by even steps (odd ones stay odd), counts and k-mer
    sizes by one, dropouts range over [0, 0.5], booleans are categorical; ratios, head counts
    and tuples stay fixed. No log scales: Optuna needs one distribution kind per name, and
    blocks of a role share names ("first.channels").
    """
    from prixfixe_blocks.registry import get_block

    entry = get_block(role, name)
    values = {f.name: f.default for f in fields(entry.config_cls)}
    values.update(block_params(role, name, width))
    # A count that matches a tuple's length is coupled to it (one pool size per block).
    lengths = {len(v) for v in values.values() if isinstance(v, tuple | list)}
    dists: dict[str, tuple] = {}
    for key, value in values.items():
        if _is_count(key) and value in lengths:
            continue
        dist = _distribution(key, value)
        if dist is not None:
            dists[key] = dist
    return dists


def _distribution(key: str, value: Any) -> tuple | None:
    lowered = key.lower()
    if isinstance(value, bool):
        return ("categorical", ([False, True],), {})
    if isinstance(value, float):
        return ("float", (0.0, 0.5), {}) if "dropout" in lowered else None
    if not isinstance(value, int) or value <= 0 or lowered in FIXED_FIELDS or "head" in lowered:
        return None
    if "kernel" in lowered:
        return ("int", (value - 2 * min(2, (value - 1) // 2), value + 4), {"step": 2})
    if _is_count(lowered) or lowered == "kmer":
        return ("int", (max(1, value - 1), value + 1), {})
    step = 8 if value >= 16 and value % 8 == 0 else max(1, value // 4)
    low = max(step, value // 2 // step * step)
    return ("int", (low, low + (2 * value - low) // step * step), {"step": step})


def _is_count(key: str) -> bool:
    return key.lower().startswith(("n_", "num_")) or key.lower() == "depth"


def _suggest(trial: Any, name: str, dist: tuple) -> Any:
    kind, args, kwargs = dist
    return getattr(trial, f"suggest_{kind}")(name, *args, **kwargs)
