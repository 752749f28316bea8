"""The node's shard cache: remote dataset shards kept on local disk, keyed by their sha256.

A trial reading ``s3://...`` gets each shard through ``ShardCache.fetch``: a cached copy is used
as is (its name is its content's sha256, checked when it was downloaded); otherwise the shard is
streamed to a temporary file while hashing, compared with the sha256 that dataset.json lists (a
mismatch means the shard changed after dataset.json was written: DataError) and renamed into
place, so concurrent trials on a node never see a partial file. The cache is shared by every
trial and dataset on the node and bounded: after each download the least recently used shards
are deleted until the total is under the cap (a shard being read stays readable: it is opened
before it can be evicted). Memory is not affected: ShardLoader reads shards one buffer at a time
as it does for a local dataset, so exact resume works the same.

Directory: ``$PRIXFIXE_SHARD_CACHE``, default ``$PRIXFIXE_CACHE/shards`` (``PRIXFIXE_CACHE``
defaults to ``~/.cache/prixfixe-search``); cap: ``$PRIXFIXE_SHARD_CACHE_GB`` (default 20).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow.fs as pafs

from prixfixe_blocks.data.store.location import DATA_CHANGED, store_error, stream_sha256
from prixfixe_blocks.errors import DataError

CACHE_ENV = "PRIXFIXE_CACHE"
SHARD_CACHE_ENV = "PRIXFIXE_SHARD_CACHE"
SHARD_CACHE_GB_ENV = "PRIXFIXE_SHARD_CACHE_GB"
DEFAULT_CACHE = "~/.cache/prixfixe-search"
DEFAULT_CAP_GB = 20.0
SUFFIX = ".parquet"


class ShardCache:
    """Content-addressed shard files under ``root``, at most ``max_bytes`` in total (LRU)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = Path(root), int(max_bytes)

    def path(self, sha256: str) -> Path:
        return self.root / f"{sha256}{SUFFIX}"

    def fetch(self, fs: pafs.FileSystem, path: str, sha256: str, where: str) -> Path:
        """The local copy of the remote file ``path`` whose content must hash to ``sha256``."""
        target = self.path(sha256)
        if target.is_file():
            try:
                os.utime(target)  # most recently used
                return target
            except FileNotFoundError:
                pass  # evicted meanwhile: download again
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with fs.open_input_stream(path, compression=None) as src:
                        got = stream_sha256(src, out)
                except FileNotFoundError:
                    raise DataError(f"shard listed in dataset.json is missing (the "
                                    f"{DATA_CHANGED} or was deleted?)", path=where) from None
                except OSError as err:
                    raise store_error(err, where, "download the shard") from None
            if got != sha256:
                raise DataError(f"checksum mismatch: sha256 {got[:16]}... but dataset.json "
                                f"says {sha256[:16]}... (the {DATA_CHANGED} after its "
                                "dataset.json was written, or the shard is corrupt)", path=where)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        self.evict(keep=target)
        return target

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least recently used shards until the cache is under its cap; returns them."""
        entries = []
        for entry in self.root.glob(f"*{SUFFIX}"):
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, stat.st_size, entry))
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, entry in sorted(entries):
            if total <= self.max_bytes:
                break
            if entry == keep:
                continue
            entry.unlink(missing_ok=True)
            total -= size
            removed.append(entry)
        return removed


def shard_cache() -> ShardCache:
    """This node's cache, as the environment configures it (see the module docstring)."""
    base = Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)).expanduser()
    root = Path(os.environ.get(SHARD_CACHE_ENV, str(base / "shards"))).expanduser()
    try:
        cap_gb = float(os.environ.get(SHARD_CACHE_GB_ENV, DEFAULT_CAP_GB))
    except ValueError:
        raise DataError(f"{SHARD_CACHE_GB_ENV} must be a number of GB, got "
                        f"{os.environ[SHARD_CACHE_GB_ENV]!r}") from None
    return ShardCache(root, int(cap_gb * 1e9))
