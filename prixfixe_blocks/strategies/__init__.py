"""Training strategies: encodings, targets, reverse-complement modes, optimizers and schedules.

Each kind is a small base class plus a registry of named implementations (one module per kind);
importing this package registers the built-in ones. `StrategySpec` (strategy_spec.py) chooses
one of each.
"""

from prixfixe_blocks.strategies import input_encodings, optim, rc, targets  # noqa: F401
