"""Loaders over one part of a dataset (TRAIN, VAL, FIT or TEST; ``format/splits.py`` rules)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prixfixe_blocks.data.format.dataset import Dataset
from prixfixe_blocks.data.format.splits import DEFAULT_VAL_FOLDS
from prixfixe_blocks.data.read.loader import ShardLoader


def split_loader(data: str | Path | Dataset, part: str, *,
                 val_folds: Sequence[int] = DEFAULT_VAL_FOLDS, **kwargs: Any) -> ShardLoader:
    """A ShardLoader over one part of a dataset (``kwargs``: batch_size, columns, seed, ...)."""
    dataset = Dataset.open(data)
    return ShardLoader(dataset, **dataset.select(part, val_folds).loader_kwargs(), **kwargs)


def part_rows(data: str | Path | Dataset, part: str,
              val_folds: Sequence[int] = DEFAULT_VAL_FOLDS) -> int:
    """How many rows ``part`` has (read from the fold and split columns only)."""
    return split_loader(data, part, val_folds=val_folds, batch_size=1, columns=["fold"],
                        shuffle=False).n_rows
