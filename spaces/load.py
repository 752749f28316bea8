"""Find a space by name or file, and check it before a search launches.

`check_space` samples configurations from an in-memory, seeded Optuna study and builds each
model on a dummy batch (`check_spec`), so that an unusable space fails in seconds, before any
trial starts, with the offending choice named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from prixfixe_blocks.errors import ConfigError, PrixFixeError
from prixfixe_blocks.param_names import ROLES, STRATEGY, ParamName
from prixfixe_blocks.ranges import check_width
from prixfixe_blocks.strategies.strategy_spec import KINDS
from prixfixe_blocks.training.model import check_spec, torch_threads
from spaces.base import SpaceFn, config_to_spec
from spaces.prixfixe import PrixfixeGridSpace, PrixfixeSpace
from spaces.user import PythonSpace, load_python_module, load_yaml_space

BUILTIN: dict[str, type[SpaceFn]] = {"prixfixe": PrixfixeSpace, "prixfixe-grid": PrixfixeGridSpace}
CHECK_SAMPLES = 16


def load_space(name: str, *, width: str = "published",
               fixed: dict[str, Any] | None = None) -> SpaceFn:
    """A built-in space by name, or a user space from a .yaml/.yml/.py file."""
    check_width(width)
    fixed = dict(fixed or {})
    if name in BUILTIN:
        return BUILTIN[name](width=width, fixed=fixed)
    path = Path(name)
    if path.suffix in (".yaml", ".yml", ".py"):
        if not path.is_file():
            raise ConfigError(f"space file not found: {path}")
        path = path.resolve()
        if path.suffix == ".py":
            load_python_module(path)  # fail now, not inside the searcher
            return PythonSpace(width=width, fixed=fixed, path=str(path))
        return load_yaml_space(path, width=width, fixed=fixed)
    raise ConfigError(
        f"unknown space '{name}' (built-in: {', '.join(BUILTIN)}; or a .yaml/.py file)"
    )


def sample_configs(space: SpaceFn, n: int, *, seed: int = 0,
                   grid: bool = False) -> list[dict[str, Any]]:
    """`n` configurations from an in-memory study (the first ones are the space's points)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if grid:
        sampler: optuna.samplers.BaseSampler = optuna.samplers.GridSampler(
            grid_space(space), seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    if not grid:
        for point in space.points():
            study.enqueue_trial(point, skip_if_exists=True)
    if grid:
        n = min(n, grid_size(space))
    configs = []
    for index in range(n):
        trial = study.ask()
        try:
            constants = space(trial) or {}
        except PrixFixeError as err:
            raise ConfigError(f"space check: configuration {index + 1} ({describe(trial.params)})"
                              f" is unusable: {err}") from err
        configs.append({**trial.params, **constants})  # left RUNNING: GridSampler skips it
    return configs


def grid_space(space: SpaceFn) -> dict[str, list[Any]]:
    """The space's grid for GridSampler; ConfigError if the space is not a pure grid."""
    grid = space.grid()
    if not grid:
        raise ConfigError(
            "--sampler grid needs a space made only of categorical choices "
            "(prixfixe-grid, a YAML space of 'choice' params, or a .py space with GRID)"
        )
    return grid


def grid_size(space: SpaceFn) -> int:
    """Number of combinations in the space's grid."""
    size = 1
    for choices in grid_space(space).values():
        size *= len(choices)
    return size


def check_space(space: SpaceFn, *, meta: Any = None, overrides: dict[str, Any] | None = None,
                n: int = CHECK_SAMPLES, seed: int = 0, grid: bool = False,
                max_params: int | None = None) -> int:
    """Build `n` sampled models on a dummy batch; ConfigError naming the first bad choice, or
    when none of them has at most `max_params` parameters.

    Returns the number of configurations checked.
    """
    try:
        configs = sample_configs(space, n, seed=seed, grid=grid)
    except PrixFixeError:
        raise
    except Exception as err:  # a broken user space: name what it raised
        raise ConfigError(f"sampling the space failed: {type(err).__name__}: {err}") from err
    counts = []
    for index, config in enumerate(configs):
        try:
            with torch_threads(1):  # a batch of 2 gains nothing from threads; spinning costs
                counts.append(check_spec(config_to_spec(config, overrides), meta))
        except Exception as err:  # ConfigError from check_spec, or anything a model raised
            message = str(err) if isinstance(err, PrixFixeError) else f"{type(err).__name__}: {err}"
            raise ConfigError(
                f"space check: configuration {index + 1} of {len(configs)} "
                f"({describe(config)}) is unusable: {message}"
            ) from err
    if max_params is not None and counts and min(counts) > max_params:
        raise ConfigError(f"--max-params {max_params:,}: none of the {len(counts)} sampled "
                          f"configurations fits (the smallest has {min(counts):,} parameters); "
                          "raise it, or use a smaller --width")
    return len(configs)


def describe(config: dict[str, Any]) -> str:
    """Short text naming a configuration's choices (blocks, bundle, strategy components)."""
    keys = [STRATEGY, *ROLES, *(ParamName(STRATEGY, kind).spec_key for kind in KINDS)]
    return ", ".join(f"{k}={config[k]}" for k in keys if k in config)
