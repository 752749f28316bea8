"""Optuna define-by-run search spaces over ModelSpec fields, and their pre-launch checks."""

from spaces.base import SpaceFn, config_to_spec, parse_fixes
from spaces.load import check_space, grid_size, grid_space, load_space, sample_configs

__all__ = [
    "SpaceFn", "check_space", "config_to_spec", "grid_size", "grid_space", "load_space",
    "parse_fixes", "sample_configs",
]
