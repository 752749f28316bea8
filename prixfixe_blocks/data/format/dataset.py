"""One opened dataset: its files, its ``dataset.json`` and its splits, parsed once, passed on.

A trial opens its dataset once (``Dataset.open``, or ``check_dataset`` against the checksum the
search recorded) and hands that object to the Trainer and every ``ShardLoader`` it builds, so
``dataset.json`` is read once per trial rather than once per loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prixfixe_blocks.data.format.schema import (
    DatasetMeta,
    dataset_checksum,
    open_dataset,
    verify_dataset,
)
from prixfixe_blocks.data.format.splits import (
    DEFAULT_VAL_FOLDS,
    RowSelection,
    select_rows,
    split_counts,
)
from prixfixe_blocks.data.store.files import DatasetFiles
from prixfixe_blocks.data.store.location import DATA_CHANGED, as_location
from prixfixe_blocks.errors import DataError

_VERIFIED: set[tuple[Any, ...]] = set()  # local shards this process has verified


@dataclass(frozen=True)
class Dataset:
    """A dataset opened once: where it is (as given), its files and its metadata."""

    location: str | Path
    files: DatasetFiles
    meta: DatasetMeta

    @classmethod
    def open(cls, location: str | Path | Dataset) -> Dataset:
        """Open the dataset at ``location`` (reads dataset.json); a ``Dataset`` is returned as
        is, so readers can take either and never parse dataset.json twice."""
        if isinstance(location, Dataset):
            return location
        files = DatasetFiles(location)
        return cls(as_location(location), files, open_dataset(files))

    @property
    def splits(self) -> dict[str, int] | None:
        """Rows per split, or None without a ``split`` column (``splits.split_counts``)."""
        return split_counts(self.meta, self.location)

    def select(self, part: str, val_folds: Sequence[int] = DEFAULT_VAL_FOLDS) -> RowSelection:
        """The rows of one part (TRAIN, VAL, FIT or TEST; ``splits.select_rows``)."""
        return select_rows(self.meta, part, val_folds, path=self.location)


def check_dataset(location: str | Path, expected: str) -> Dataset:
    """Open the dataset at ``location`` and make sure it is the one with checksum ``expected``
    (DataError otherwise). Local shards are hashed once per process; remote ones are checked
    against their sha256 as they are downloaded into the shard cache."""
    dataset = Dataset.open(location)
    files, meta = dataset.files, dataset.meta
    found = dataset_checksum(meta)
    if found != expected:
        raise DataError(f"the {DATA_CHANGED} since the search started: its checksum is "
                        f"{found}, the search recorded {expected} (restore the original data, "
                        "or start a new search)", path=files.location)
    if not files.remote:
        try:
            verify_dataset(files, meta, memo=_VERIFIED)
        except DataError as err:
            raise DataError(f"the {DATA_CHANGED} since the search started: {err}") from None
    return dataset
