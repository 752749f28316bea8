"""Atomic, streaming writer of a dataset directory (shards + dataset.json).

Everything is written under a hidden temporary directory beside the target and renamed into
place only by ``commit()``; an exception inside the ``with`` block removes the temporary
directory, so a failed or interrupted run never leaves a half dataset. Memory stays bounded by
one incoming chunk: shards are Parquet files written row group by row group.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prixfixe_blocks.data.format.schema import (
    FORMAT_VERSION,
    META_FILE,
    SHARD_PATTERN,
    DatasetMeta,
)
from prixfixe_blocks.data.format.splits import SPLIT_COLUMN, SPLITS, TEST
from prixfixe_blocks.data.store.location import stream_sha256
from prixfixe_blocks.errors import DataError

_AT_FDCWD = -100  # renameat2: paths relative to the working directory
_RENAME_EXCHANGE = 2


def temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden sibling path for atomic writes (``.NAME.tmp-PID``)."""
    return path.parent / f".{path.name}.{tag}-{os.getpid()}"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``);
    False where the platform or file system cannot."""
    rename = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) \
        if sys.platform.startswith("linux") else None
    if rename is None:
        return False
    return rename(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def replace_path(tmp: Path, final: Path) -> None:
    """Move ``tmp`` onto ``final``, replacing an existing ``final`` (file or directory).

    Readers see either the old or the new ``final``: the two are swapped atomically where the
    system can (then the old one is removed); elsewhere the old one is renamed aside first.
    """
    if not final.exists():
        tmp.rename(final)
        return
    if _exchange(tmp, final):
        old = tmp
    else:
        old = temp_sibling(final, "old")
        final.rename(old)
        tmp.rename(final)
    shutil.rmtree(old) if old.is_dir() else old.unlink()


def prepare_output(out: Path, overwrite: bool) -> None:
    """Refuse an existing output unless ``overwrite``; create the parent directory."""
    if out.exists() and not overwrite:
        raise DataError("output already exists (use --overwrite to replace it)", path=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)


class _Moments:
    """Streaming mean/std/min/max of one column (Chan et al. parallel merge, float64)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.lo, self.hi = float("inf"), float("-inf")

    def update(self, x: np.ndarray) -> None:
        if not len(x):
            return
        x = x.astype(np.float64)
        n_b, mean_b = len(x), float(x.mean())
        m2_b = float(((x - mean_b) ** 2).sum())
        delta, total = mean_b - self.mean, self.n + n_b
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta**2 * self.n * n_b / total
        self.n = total
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))

    def result(self) -> dict[str, float]:
        std = (self.m2 / self.n) ** 0.5 if self.n else 0.0
        return {"mean": self.mean, "std": std, "min": self.lo, "max": self.hi}


class DatasetWriter:
    """Write record batches into shards of ``shard_rows`` rows and finish with dataset.json.

    A ``split`` column is counted in ``splits`` (values must be train/val/test) and its test rows
    are left out of ``target_stats`` (training normalises with them, so test labels must not
    count). ``split_column`` names another column whose per-value counts go into ``rows`` (the
    simulator's test-suite ``subset``).
    """

    def __init__(self, out: str | Path, *, targets: list[str], n_folds: int,
                 source: dict[str, Any], plasmid: dict[str, str] | None = None,
                 shard_rows: int = 1_000_000, split_column: str | None = None) -> None:
        if shard_rows < 1:
            raise DataError(f"--shard-rows must be positive, got {shard_rows}", field="shard_rows")
        self.out = Path(out)
        self.tmp = temp_sibling(self.out)
        self.targets, self.n_folds, self.source = targets, n_folds, source
        self.plasmid, self.shard_rows, self.split_column = plasmid, shard_rows, split_column
        self._writer: pq.ParquetWriter | None = None
        self._shard_rows_written = 0
        self._shards: list[dict[str, Any]] = []
        self._schema: pa.Schema | None = None
        self._total = 0
        self._split_rows: dict[str, int] = {}
        self._splits = dict.fromkeys(SPLITS, 0)
        self._fold_rows = np.zeros(n_folds, np.int64)
        self._len = [10**9, 0]
        self._moments = {t: _Moments() for t in targets}

    def __enter__(self) -> DatasetWriter:
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return self._total

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        """Append rows (a fixed schema across calls); splits them across shard boundaries."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if self._schema is None:
            self._schema = table.schema
        elif not table.schema.equals(self._schema):
            table = table.select(self._schema.names).cast(self._schema)
        self._update_stats(table)
        while table.num_rows:
            if self._writer is None:
                self._open_shard()
            room = self.shard_rows - self._shard_rows_written
            part, table = table.slice(0, room), table.slice(room)
            self._writer.write_table(part)
            self._shard_rows_written += part.num_rows
            if self._shard_rows_written >= self.shard_rows:
                self._close_shard()

    def _open_shard(self) -> None:
        name = SHARD_PATTERN.format(len(self._shards))
        # No dictionary for the (nearly unique) sequences: it only slows reading down 3x.
        dictionary = [n for n in self._schema.names if n != "sequence"]
        self._writer = pq.ParquetWriter(self.tmp / name, self._schema, compression="zstd",
                                        use_dictionary=dictionary)
        self._shards.append({"file": name, "rows": 0, "sha256": ""})
        self._shard_rows_written = 0

    def _close_shard(self) -> None:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        entry = self._shards[-1]
        entry["rows"] = self._shard_rows_written
        with open(self.tmp / entry["file"], "rb") as fh:
            entry["sha256"] = stream_sha256(fh)

    def _update_stats(self, table: pa.Table) -> None:
        self._total += table.num_rows
        lengths = pc.utf8_length(table["sequence"])
        if table.num_rows:
            mm = pc.min_max(lengths).as_py()
            self._len = [min(self._len[0], mm["min"]), max(self._len[1], mm["max"])]
        folds = table["fold"].to_numpy()
        self._fold_rows += np.bincount(folds, minlength=self.n_folds)[: self.n_folds]
        if self.split_column:
            counts = pc.value_counts(table[self.split_column]).to_pylist()
            for item in counts:
                key = str(item["values"])
                self._split_rows[key] = self._split_rows.get(key, 0) + item["counts"]
        trainable = self._count_splits(table)
        for name in self.targets:
            values = table[name].to_numpy()
            self._moments[name].update(values if trainable is None else values[trainable])

    def _count_splits(self, table: pa.Table) -> np.ndarray | None:
        """Count the ``split`` column's values (DataError for any but train/val/test) and return
        the mask of non-test rows: target statistics never see test labels."""
        if SPLIT_COLUMN not in table.column_names:
            return None
        for item in pc.value_counts(table[SPLIT_COLUMN]).to_pylist():
            if item["values"] not in self._splits:
                raise DataError(f"split value {item['values']!r} is not one of "
                                f"{', '.join(SPLITS)}", field=SPLIT_COLUMN)
            self._splits[item["values"]] += item["counts"]
        return ~pc.equal(table[SPLIT_COLUMN], TEST).to_numpy(zero_copy_only=False)

    def commit(self, extra: dict[str, Any] | None = None) -> DatasetMeta:
        """Close the last shard, write dataset.json and atomically move the dataset into place."""
        if self._writer is not None:
            self._close_shard()
        if self._total == 0:
            raise DataError("no rows to write (empty input?)", path=str(self.source.get("input")))
        meta = DatasetMeta(
            format_version=FORMAT_VERSION, source={**self.source, **(extra or {})},
            targets=self.targets, columns=self._schema.names,
            rows={"total": self._total, **self._split_rows}, n_folds=self.n_folds,
            fold_rows=self._fold_rows.tolist(),
            seq_len={"min": self._len[0], "max": self._len[1]}, shards=self._shards,
            plasmid=self.plasmid,
            target_stats={t: m.result() for t, m in self._moments.items() if m.n},
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            splits=self._splits if SPLIT_COLUMN in self._schema.names else {},
        )
        (self.tmp / META_FILE).write_text(json.dumps(meta.to_dict(), indent=2) + "\n")
        replace_path(self.tmp, self.out)
        return meta
