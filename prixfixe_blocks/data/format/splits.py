"""Train / val / test splits: the one place that decides which rows a caller may read.

A dataset may have a ``split`` column whose values are exactly ``train``, ``val`` or ``test``
(``data convert --split-col`` / ``--file-splits``, or ``data split``); ``dataset.json`` counts
them in ``splits``. Every reader asks here for one *part* of a dataset:

- ``TRAIN``: the rows a model is fitted on. Never test rows; never validation rows.
- ``VAL``: the ``val`` split when the dataset has val rows, else the hash folds ``val_folds`` of
  the trainable rows (the only validation a dataset without a ``split`` column has).
- ``FIT``: train + val (refitting a chosen configuration). Never test rows.
- ``TEST``: only the ``test`` split; an error when the dataset has none.

A dataset without a ``split`` column has no test rows: all rows are trainable, with hash-fold
validation, as before splits existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prixfixe_blocks.data.format.schema import DatasetMeta
from prixfixe_blocks.errors import ConfigError, DataError

SPLIT_COLUMN = "split"
TRAIN, VAL, TEST = "train", "val", "test"
SPLITS = (TRAIN, VAL, TEST)
FIT = "fit"
PARTS = (TRAIN, VAL, FIT, TEST)
DEFAULT_VAL_FOLDS = (0,)

# Spellings accepted in input files (compared after trimming and lower-casing).
ALIASES: dict[str, str] = {
    "train": TRAIN, "training": TRAIN,
    "val": VAL, "valid": VAL, "validation": VAL, "dev": VAL,
    "test": TEST, "testing": TEST,
}
SPLIT_HELP = "train, val or test (also: " + ", ".join(
    k for k in ALIASES if k not in SPLITS) + ")"
SPLIT_COMMAND = "prixfixe-search data split DATA --test-fraction F"


@dataclass(frozen=True)
class RowSelection:
    """Which rows one part of a dataset is: ShardLoader filters plus a readable description."""

    part: str
    splits: tuple[str, ...] | None = None
    folds: tuple[int, ...] | None = None
    exclude_folds: tuple[int, ...] | None = None

    def loader_kwargs(self) -> dict[str, Any]:
        """The ``ShardLoader`` keyword arguments that select these rows."""
        return {"split": None if self.splits is None else list(self.splits),
                "folds": None if self.folds is None else list(self.folds),
                "exclude_folds": None if self.exclude_folds is None else list(self.exclude_folds)}

    def describe(self) -> str:
        """E.g. ``split 'val'`` or ``split 'train', folds not in [0]`` (for logs and errors)."""
        parts = []
        if self.splits is not None:
            parts.append("split " + " + ".join(f"'{s}'" for s in self.splits))
        if self.folds is not None:
            parts.append(f"folds {list(self.folds)}")
        if self.exclude_folds is not None:
            parts.append(f"folds not in {list(self.exclude_folds)}")
        return ", ".join(parts) or "all rows"


def split_counts(meta: DatasetMeta, path: str | Path | None = None) -> dict[str, int] | None:
    """Rows per split (all three keys), or None when the dataset has no ``split`` column.

    A ``split`` column without counts in dataset.json was written before split values were
    checked (it may hold e.g. DeepSTARR's raw ``Train``): refused rather than guessed.
    """
    if SPLIT_COLUMN not in meta.columns:
        return None
    if not meta.splits:
        raise DataError("the 'split' column has no counts in dataset.json (written before split "
                        "values were checked): convert the input again, or run "
                        f"`{SPLIT_COMMAND} --overwrite`", path=str(path) if path else None,
                        field=SPLIT_COLUMN)
    return {s: int(meta.splits.get(s, 0)) for s in SPLITS}


def select_rows(meta: DatasetMeta, part: str, val_folds: Sequence[int] = DEFAULT_VAL_FOLDS, *,
                path: str | Path | None = None) -> RowSelection:
    """The rows of ``part`` (TRAIN, VAL, FIT or TEST) under the rules in the module docstring."""
    if part not in PARTS:
        raise ConfigError(f"unknown dataset part '{part}' (expected one of {', '.join(PARTS)})")
    folds = tuple(sorted(set(int(f) for f in val_folds)))
    counts = split_counts(meta, path)
    if part == TEST:
        if not counts or not counts[TEST]:
            raise DataError(f"the dataset has no test rows; make a test split with "
                            f"`{SPLIT_COMMAND}`", path=str(path) if path else None,
                            field=SPLIT_COLUMN)
        return RowSelection(TEST, splits=(TEST,))
    if counts is None:
        return {TRAIN: RowSelection(TRAIN, exclude_folds=folds),
                VAL: RowSelection(VAL, folds=folds),
                FIT: RowSelection(FIT)}[part]
    if part == FIT:
        return RowSelection(FIT, splits=(TRAIN, VAL))
    if counts[VAL]:
        return RowSelection(part, splits=(part,))
    if part == TRAIN:
        return RowSelection(TRAIN, splits=(TRAIN,), exclude_folds=folds)
    return RowSelection(VAL, splits=(TRAIN,), folds=folds)


def canonical_splits(values: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Input split values mapped to train/val/test, and row index -> message for unknown ones."""
    key = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    index = pc.index_in(key, value_set=pa.array(list(ALIASES)))
    known = pc.is_valid(index).to_numpy(zero_copy_only=False)
    mapped = pc.take(pa.array(list(ALIASES.values()), pa.string()), pc.fill_null(index, 0))
    bad = {int(i): f"unknown split {values[int(i)].as_py()!r} (expected {SPLIT_HELP})"
           for i in np.flatnonzero(~known)}
    return mapped, bad


def canonical_split(value: str, where: str) -> str:
    """One split name (e.g. from --file-splits) mapped to train/val/test; ConfigError if unknown."""
    name = ALIASES.get(value.strip().lower())
    if name is None:
        raise ConfigError(f"{where}: unknown split '{value}' (expected {SPLIT_HELP})")
    return name
