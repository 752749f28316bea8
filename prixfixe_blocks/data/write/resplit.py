"""``data split``: give a dataset a train/val/test ``split`` column from a hash of each sequence.

A row's split depends only on its sequence and the seed: the hash of a sequence and of its
reverse complement is the same (the smaller of the two ``sequence_hash`` values), so
duplicates and reverse-complement duplicates always land in the same split, and splitting
again gives the same result. The hash maps to u in [0, 1): test if u < test_fraction, val if
u >= 1 - val_fraction, else train (raising one fraction only ever moves rows out of train).

The dataset (a directory, or a URI: ``publish.py``) is rewritten through ``DatasetWriter``
(new shards, checksums, counts and target statistics in a temporary directory, swapped in at
the end), so a failure at any point leaves the old dataset as it was; anything else in the
directory (the simulator's ``test_suite/``) is carried over.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.schema import (
    HASH_BLOCK,
    META_FILE,
    DatasetMeta,
    as_string_array,
    open_dataset,
    sequence_hash,
    splitmix64,
    string_buffers,
)
from prixfixe_blocks.data.format.splits import SPLIT_COLUMN, TEST, TRAIN, VAL
from prixfixe_blocks.data.store.files import DatasetFiles
from prixfixe_blocks.data.store.location import as_location
from prixfixe_blocks.data.write.publish import dataset_output
from prixfixe_blocks.data.write.writer import DatasetWriter
from prixfixe_blocks.errors import ConfigError, DataError

_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _base, _comp in zip("ACGTacgt", "TGCATGCA", strict=True):
    _COMPLEMENT[ord(_base)] = ord(_comp)
_UNIT = 2.0 ** -53  # 53 high bits of a uint64 -> [0, 1)


def reverse_complements(seqs: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    """The reverse complement of every string (ACGT, any case, upper-case out; other bytes
    such as N are kept), vectorized over the Arrow buffers."""
    data, offsets = string_buffers(seqs)
    lengths = np.diff(offsets)
    starts = offsets[:-1] - offsets[0]
    total = int(lengths.sum())
    # byte j of the output row that starts at s with length L is input byte s + L - 1 - (j - s)
    source = np.repeat(2 * starts + lengths - 1, lengths) - np.arange(total, dtype=np.int64)
    body = _COMPLEMENT[data[offsets[0]: offsets[-1]][source]]
    new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(new_offsets),
                                            pa.py_buffer(body.tobytes()))


def strand_hash(seqs: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
    """``sequence_hash`` made the same for a sequence and its reverse complement (in blocks of
    rows, so the temporaries stay small for any shard size)."""
    seqs = as_string_array(seqs)
    out = np.empty(len(seqs), np.uint64)
    for lo in range(0, len(seqs), HASH_BLOCK):
        block = seqs.slice(lo, HASH_BLOCK)
        out[lo: lo + len(block)] = np.minimum(sequence_hash(block),
                                              sequence_hash(reverse_complements(block)))
    return out


def check_fractions(test_fraction: float, val_fraction: float) -> None:
    """ConfigError unless both fractions are in [0, 1) and leave rows for training."""
    for flag, value in (("--test-fraction", test_fraction), ("--val-fraction", val_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{flag} must be in [0, 1), got {value}")
    if not test_fraction + val_fraction < 1.0:
        raise ConfigError(f"--test-fraction + --val-fraction must be below 1, got "
                          f"{test_fraction} + {val_fraction}: no rows would be left to train on")


def assign_splits(seqs: pa.Array | pa.ChunkedArray | list[str], test_fraction: float,
                  val_fraction: float = 0.0, seed: int = 0) -> pa.Array:
    """The split (train/val/test) of each sequence; see the module docstring."""
    check_fractions(test_fraction, val_fraction)
    salt = splitmix64(np.array([seed % 2**64], np.uint64))
    mixed = splitmix64(strand_hash(seqs) ^ salt)
    u = (mixed >> np.uint64(11)).astype(np.float64) * _UNIT
    names = np.where(u < test_fraction, TEST, np.where(u >= 1.0 - val_fraction, VAL, TRAIN))
    return pa.array(names, pa.string())


def split_dataset(data_dir: str | Path, test_fraction: float, val_fraction: float = 0.0, *,
                  seed: int = 0, overwrite: bool = False) -> DatasetMeta:
    """Write a ``split`` column into the dataset at ``data_dir`` (a directory or a URI,
    atomically); returns the new metadata. An existing split column is replaced only with
    ``overwrite``."""
    check_fractions(test_fraction, val_fraction)
    files = DatasetFiles(data_dir)
    meta = open_dataset(files)
    if SPLIT_COLUMN in meta.columns and not overwrite:
        counts = ", ".join(f"{k} {v:,}" for k, v in meta.splits.items()) or "uncounted"
        raise DataError(f"already has a split column ({counts}); pass --overwrite to replace it "
                        "(models trained on the old split may have seen the new test rows)",
                        path=files.location, field=SPLIT_COLUMN)
    source = {**meta.source, "split": {"test_fraction": test_fraction,
                                       "val_fraction": val_fraction, "seed": seed,
                                       "method": "sequence hash, reverse complements together"}}
    shard_rows = max(int(s["rows"]) for s in meta.shards)
    with dataset_output(as_location(data_dir), overwrite=True) as out, \
            DatasetWriter(out, targets=meta.targets, n_folds=meta.n_folds, source=source,
                          plasmid=meta.plasmid, shard_rows=shard_rows) as writer:
        for entry in meta.shards:
            table = files.read_shard(entry)
            if SPLIT_COLUMN in table.column_names:
                table = table.drop_columns([SPLIT_COLUMN])
            splits = assign_splits(table["sequence"], test_fraction, val_fraction, seed)
            writer.write(table.append_column(SPLIT_COLUMN, splits))
        if not files.remote:  # a URI keeps its other files: only the shards are replaced
            _carry_over(Path(files.base), meta, writer.tmp)
        return writer.commit()


def _carry_over(root: Path, meta: DatasetMeta, new_root: Path) -> None:
    """Hard-link (or copy) into the new dataset what else the old directory holds, e.g. the
    simulator's ``test_suite/``; the old directory keeps its own links until the swap."""
    replaced = {META_FILE, *(s["file"] for s in meta.shards)}
    for entry in sorted(root.iterdir()):
        if entry.name in replaced:
            continue
        if entry.is_dir():
            shutil.copytree(entry, new_root / entry.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, new_root / entry.name)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)

