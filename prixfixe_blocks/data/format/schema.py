"""The dataset format: Parquet shards plus ``dataset.json`` (docs/ARCHITECTURE.md section 1).

This module owns the metadata (``DatasetMeta``, ``open_dataset``), the stable hash folds, and
the ``data info`` command. Writing lives in ``prixfixe_blocks.data.write.writer``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prixfixe_blocks.data.store.files import DatasetFiles
from prixfixe_blocks.errors import DataError

FORMAT_VERSION = 1
META_FILE = "dataset.json"
SHARD_PATTERN = "part-{:05d}.parquet"
ALPHABET = "ACGTN"  # the letters a sequence may hold (any case), in code order
LEFT_ADAPTER = "TGCATTTTTTTCACATC"
RIGHT_ADAPTER = "GGTTACGGCTGTT"

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
HASH_BLOCK = 16_384


@dataclass
class DatasetMeta:
    """Dataclass mirror of ``dataset.json`` (same keys, same meaning)."""

    format_version: int
    source: dict[str, Any]
    targets: list[str]
    columns: list[str]
    rows: dict[str, int]
    n_folds: int
    fold_rows: list[int]
    seq_len: dict[str, int]
    shards: list[dict[str, Any]]
    plasmid: dict[str, str] | None = None
    target_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    created: str = ""
    splits: dict[str, int] = field(default_factory=dict)

    def shard_paths(self, root: str | Path) -> list[Path]:
        """Absolute paths of the shards, in dataset order."""
        return [Path(root) / s["file"] for s in self.shards]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready mapping written as ``dataset.json``."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def open_dataset(path: str | Path | DatasetFiles) -> DatasetMeta:
    """Read and check ``dataset.json`` of a dataset directory or URI; DataError if anything is
    missing (the directory, dataset.json, a listed shard) or the store cannot be reached."""
    files = path if isinstance(path, DatasetFiles) else DatasetFiles(path)
    if not files.exists():
        raise DataError("dataset directory not found", path=files.location)
    text = files.read_text(META_FILE)
    if text is None:
        raise DataError(f"missing {META_FILE} (not a dataset directory?)", path=files.location)
    meta_path = files.where(META_FILE)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON: {err}", path=meta_path) from None
    if not isinstance(raw, dict):
        raise DataError("expected a JSON object", path=meta_path)
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError(f"unsupported format_version {version!r} (expected {FORMAT_VERSION})",
                        path=meta_path, field="format_version")
    known = {k: raw[k] for k in DatasetMeta.__dataclass_fields__ if k in raw}
    try:
        meta = DatasetMeta(**known)
    except TypeError as err:
        raise DataError(f"incomplete metadata: {err}", path=meta_path) from None
    missing = files.missing([s["file"] for s in meta.shards])
    if missing:
        raise DataError("shard listed in dataset.json is missing", path=files.where(missing[0]))
    return meta


def dataset_checksum(meta: DatasetMeta) -> str:
    """A short checksum of a dataset's content (its shards' sha256, in order): what a search
    records at launch and every trial compares with before reading a row."""
    text = json.dumps([s.get("sha256", s.get("file")) for s in meta.shards])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def as_string_array(seqs: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    """One contiguous Arrow string (or large_string) array from any supported input."""
    if isinstance(seqs, pa.ChunkedArray):
        seqs = seqs.combine_chunks() if seqs.num_chunks != 1 else seqs.chunk(0)
    elif not isinstance(seqs, pa.Array):
        seqs = pa.array(list(seqs), type=pa.string())
    if not (pa.types.is_string(seqs.type) or pa.types.is_large_string(seqs.type)):
        seqs = seqs.cast(pa.large_string())
    return seqs


def string_buffers(seqs: pa.Array | pa.ChunkedArray | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy view of a string array: (bytes uint8, offsets int64 of length n+1)."""
    seqs = as_string_array(seqs)
    if seqs.null_count:
        raise DataError("null sequence in input", field="sequence")
    width = np.int64 if pa.types.is_large_string(seqs.type) else np.int32
    _, off_buf, data_buf = seqs.buffers()
    offsets = np.frombuffer(off_buf, dtype=width)[seqs.offset: seqs.offset + len(seqs) + 1]
    empty = np.zeros(0, np.uint8)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else empty
    return data, offsets.astype(np.int64)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer on uint64 arrays (wrapping arithmetic): a well-mixed stable hash."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def sequence_hash(seqs: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
    """Stable 64-bit hash per sequence (upper-case bytes, position-weighted, SplitMix64-mixed).

    Depends only on the bytes of each sequence, never on row order, chunking or the process, so
    duplicates share a hash and re-conversions reproduce it. Rows are hashed in blocks to keep
    the uint64 temporaries small (memory stays bounded for any chunk size).
    """
    data, offsets = string_buffers(seqs)
    n = len(offsets) - 1
    out = np.zeros(n, np.uint64)
    for lo in range(0, n, HASH_BLOCK):
        hi = min(lo + HASH_BLOCK, n)
        out[lo:hi] = _hash_block(data, offsets[lo: hi + 1])
    return out


def _hash_block(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``sequence_hash`` of the rows delimited by ``offsets`` (n+1 entries) in ``data``."""
    lengths = np.diff(offsets)
    body = data[offsets[0]: offsets[-1]].astype(np.uint64)
    lower = (body >= ord("a")) & (body <= ord("z"))
    body[lower] -= np.uint64(32)
    starts = offsets[:-1] - offsets[0]
    pos = np.arange(len(body), dtype=np.uint64) - np.repeat(starts, lengths).astype(np.uint64)
    contrib = (body + np.uint64(1)) * splitmix64(pos)  # wraps mod 2**64 by design
    sums = np.zeros(len(lengths), np.uint64)
    nonempty = lengths > 0
    if len(body):
        sums[nonempty] = np.add.reduceat(contrib, starts[nonempty])
    return splitmix64(sums ^ lengths.astype(np.uint64))


def stable_fold(sequences: pa.Array | pa.ChunkedArray | list[str], n_folds: int) -> np.ndarray:
    """Fold 0..n_folds-1 per sequence from ``sequence_hash`` (duplicates share a fold)."""
    if not 1 <= n_folds <= 127:
        raise DataError(f"n_folds must be in 1..127, got {n_folds}", field="fold")
    return (sequence_hash(sequences) % np.uint64(n_folds)).astype(np.int8)


def verify_dataset(location: str | Path | DatasetFiles, meta: DatasetMeta,
                   memo: set[tuple[Any, ...]] | None = None) -> None:
    """Recompute shard checksums and row counts; DataError naming the first bad shard.
    ``memo`` skips local shards already verified with the same size and mtime."""
    files = location if isinstance(location, DatasetFiles) else DatasetFiles(location)
    for entry in meta.shards:
        where = files.where(entry["file"])
        key = None
        if not files.remote:
            stat = (Path(files.base) / entry["file"]).stat()
            key = (where, stat.st_size, stat.st_mtime_ns, entry["sha256"], entry["rows"])
            if memo is not None and key in memo:
                continue
        if files.sha256(entry["file"]) != entry["sha256"]:
            raise DataError("checksum mismatch (shard changed or corrupt)", path=where)
        try:
            with files.fs.open_input_file(f"{files.base}/{entry['file']}") as fh:
                rows = pq.ParquetFile(fh).metadata.num_rows
        except (pa.ArrowException, OSError) as err:
            raise DataError(f"cannot read Parquet shard: {err}", path=where) from None
        if rows != entry["rows"]:
            raise DataError(f"has {rows} rows, dataset.json says {entry['rows']}", path=where)
        if memo is not None and key is not None:
            memo.add(key)


def summary(meta: DatasetMeta) -> str:
    """Human-readable multi-line summary of a dataset's metadata."""
    lines = [
        f"source:   {meta.source.get('format')} ({meta.source.get('input', '')})",
        f"rows:     {meta.rows}",
        f"targets:  {', '.join(meta.targets)}",
        f"columns:  {', '.join(meta.columns)}",
        f"seq_len:  {meta.seq_len['min']}..{meta.seq_len['max']}",
        f"folds:    {meta.n_folds} {meta.fold_rows}",
        "splits:   " + (", ".join(f"{k} {v:,}" for k, v in meta.splits.items()) if meta.splits
                        else "none (no test rows; validation on hash folds)"),
        f"shards:   {len(meta.shards)}",
        f"plasmid:  {'yes' if meta.plasmid else 'none'}",
    ]
    for name, st in meta.target_stats.items():
        lines.append(f"  {name}: mean {st['mean']:.4g} sd {st['std']:.4g} "
                     f"range {st['min']:.4g}..{st['max']:.4g}")
    return "\n".join(lines)

