"""Seeded, resumable streaming of dataset shards into record batches (docs/ARCHITECTURE.md §1).

Rows are read shard by shard; ``shuffle_shards`` shards at a time form a shuffle buffer whose
rows are permuted together, so memory is bounded by a few shards, never the dataset. One *pass*
is a full sweep over this rank's rows in an order fixed by (seed, pass, rank). Batches are cut
at multiples of ``batch_size`` in the row stream, so batch k of an epoch can be located from the
per-shard row counts alone: ``epoch(e, start_batch=k)`` skips whole buffers without reading them
and yields exactly what an uninterrupted run would from batch k on.

- exact epochs (``batches_per_epoch=None``): epoch e is pass e (last batch partial unless
  ``drop_last``);
- fixed batches per epoch: epoch e is batches [e*n, (e+1)*n) of an endless stream of passes
  0, 1, 2, ... (full batches only; a batch may span two passes).

A dataset behind a URI (``s3://...``) is read the same way, each shard through the node's
shard cache (``store/cache.py``): downloaded once, checked against its sha256, then read locally.

Ranks: with at least ``world_size`` shards, shard i belongs to rank i % world_size; with fewer,
every rank reads every shard and keeps every world_size-th selected row. Either way ranks are
disjoint and together cover the selection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prixfixe_blocks.data.format.dataset import Dataset
from prixfixe_blocks.data.format.schema import DatasetMeta
from prixfixe_blocks.errors import ConfigError


class ShardLoader:
    """Batches of a dataset for one rank; see the module docstring for the exact semantics."""

    def __init__(self, data_dir: str | Path | Dataset, *, batch_size: int,
                 folds: Sequence[int] | None = None, exclude_folds: Sequence[int] | None = None,
                 split: str | Sequence[str] | None = None,
                 columns: Sequence[str] | None = None, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False,
                 batches_per_epoch: int | None = None, rank: int = 0, world_size: int = 1,
                 shuffle_shards: int = 2) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} not in 0..{world_size - 1}")
        dataset = Dataset.open(data_dir)  # an opened Dataset: dataset.json is not read again
        self.root, self.files = dataset.location, dataset.files
        self.meta: DatasetMeta = dataset.meta
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.drop_last, self.batches_per_epoch = drop_last, batches_per_epoch
        self.rank, self.world_size = rank, world_size
        self.shuffle_shards = max(1, shuffle_shards)
        self.folds = None if folds is None else sorted(set(folds))
        self.exclude_folds = None if exclude_folds is None else sorted(set(exclude_folds))
        self.split = None if split is None else sorted({split} if isinstance(split, str)
                                                       else set(split))
        self.columns = list(columns) if columns is not None else list(self.meta.columns)
        missing = [c for c in self.columns if c not in self.meta.columns]
        if missing:
            raise ConfigError(f"unknown columns {missing}; dataset has {self.meta.columns}")
        if split is not None and "split" not in self.meta.columns:
            raise ConfigError("split= given but the dataset has no split column")
        entries = self.meta.shards
        self._stripe = len(entries) < world_size
        self._shards = [i for i in range(len(entries)) if self._stripe or i % world_size == rank]
        self._counts = {i: self._count(i) for i in self._shards}
        self.n_rows = sum(self._counts.values())
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise ConfigError(f"batches_per_epoch must be positive, got {batches_per_epoch}")

    # ----- selection -------------------------------------------------------------------------
    def _filtered(self) -> bool:
        return self.folds is not None or self.exclude_folds is not None or self.split is not None

    def _mask(self, table: pa.Table) -> np.ndarray | None:
        """Boolean mask of the selected rows of one shard, before rank striping."""
        if not self._filtered():
            return None
        mask = np.ones(table.num_rows, bool)
        if self.folds is not None:
            mask &= np.isin(table["fold"].to_numpy(), self.folds)
        if self.exclude_folds is not None:
            mask &= ~np.isin(table["fold"].to_numpy(), self.exclude_folds)
        if self.split is not None:
            chosen = pc.is_in(table["split"], value_set=pa.array(self.split, pa.string()))
            mask &= chosen.to_numpy(zero_copy_only=False)
        return mask

    def _selected_index(self, table: pa.Table) -> np.ndarray:
        """Row indices of a shard that belong to this rank, in shard order."""
        mask = self._mask(table)
        idx = np.arange(table.num_rows) if mask is None else np.flatnonzero(mask)
        return idx[self.rank:: self.world_size] if self._stripe else idx

    def _count(self, shard: int) -> int:
        rows = self.meta.shards[shard]["rows"]
        if not self._filtered():
            return len(range(self.rank, rows, self.world_size)) if self._stripe else rows
        cols = [c for c in ("fold", "split") if c in self.meta.columns]
        return len(self._selected_index(self.files.read_shard(self.meta.shards[shard], cols)))

    # ----- order -----------------------------------------------------------------------------
    def _rng(self, pass_idx: int, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, pass_idx, self.rank, *key])

    def _groups(self, pass_idx: int) -> list[list[int]]:
        """Shuffle buffers of one pass: this rank's shards, in (seeded) order, grouped."""
        order = list(self._shards)
        if self.shuffle:
            order = [order[i] for i in self._rng(pass_idx, 0).permutation(len(order))]
        k = self.shuffle_shards
        return [order[i: i + k] for i in range(0, len(order), k)]

    def _load_group(self, pass_idx: int, gi: int, shards: list[int]) -> pa.Table:
        """Selected rows of a buffer's shards, permuted together when shuffling."""
        need = list(dict.fromkeys(self.columns + [c for c in ("fold", "split")
                                                  if self._filtered() and c in self.meta.columns]))
        parts = []
        for s in shards:
            table = self.files.read_shard(self.meta.shards[s], need)
            if self._filtered() or self._stripe:
                table = table.take(pa.array(self._selected_index(table)))
            parts.append(table)
        table = pa.concat_tables(parts).select(self.columns).combine_chunks()
        if self.shuffle:
            table = table.take(pa.array(self._rng(pass_idx, 1, gi).permutation(table.num_rows)))
        return table

    def _rows(self, pass_idx: int, offset: int, endless: bool) -> Iterator[pa.Table]:
        """Row stream from ``offset`` within pass ``pass_idx`` (on into later passes if endless)."""
        while True:
            for gi, group in enumerate(self._groups(pass_idx)):
                size = sum(self._counts[s] for s in group)
                if offset >= size:
                    offset -= size
                    continue
                yield self._load_group(pass_idx, gi, group).slice(offset)
                offset = 0
            if not endless:
                return
            pass_idx += 1

    # ----- public ----------------------------------------------------------------------------
    def __len__(self) -> int:
        """Batches per epoch."""
        if self.batches_per_epoch is not None:
            return self.batches_per_epoch
        full, rest = divmod(self.n_rows, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[pa.RecordBatch]:
        """Batches of ``epoch`` from ``start_batch`` on; deterministic for (seed, epoch, rank)."""
        n = len(self)
        if not 0 <= start_batch <= n:
            raise ConfigError(f"start_batch {start_batch} not in 0..{n}")
        if self.batches_per_epoch is None:
            rows = self._rows(epoch, start_batch * self.batch_size, endless=False)
        elif self.n_rows == 0:
            raise ConfigError(f"batches_per_epoch needs rows, but none are selected in {self.root}")
        else:
            first_row = (epoch * n + start_batch) * self.batch_size
            rows = self._rows(first_row // self.n_rows, first_row % self.n_rows, endless=True)
        yield from _cut(rows, self.batch_size, n - start_batch)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.epoch(0)


def _cut(tables: Iterator[pa.Table], size: int, limit: int) -> Iterator[pa.RecordBatch]:
    """Re-chunk a table stream into at most ``limit`` batches of ``size`` rows (last may be short;
    callers bound ``limit`` so that drop_last never sees it)."""
    pending: list[pa.Table] = []
    have = produced = 0
    for table in tables:
        while table.num_rows and produced < limit:
            part = table.slice(0, size - have)
            table = table.slice(part.num_rows)
            pending.append(part)
            have += part.num_rows
            if have == size:
                yield _merge(pending)
                pending, have, produced = [], 0, produced + 1
        if produced >= limit:
            return
    if pending and produced < limit:
        yield _merge(pending)


def _merge(parts: list[pa.Table]) -> pa.RecordBatch:
    """One record batch from table pieces (zero-copy when a single contiguous piece)."""
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    batches = table.to_batches()
    if len(batches) == 1:
        return batches[0]
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
