"""One dataset's files, local or behind a URI (see ``location.py`` for the URIs it accepts).

A local dataset is read straight from its directory; a remote one shard by shard through the
node's ``ShardCache`` (``cache.py``), which checks every download against its sha256 in
dataset.json. Store errors become ``DataError``s that name the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from prixfixe_blocks.data.store.cache import shard_cache
from prixfixe_blocks.data.store.location import (
    file_type,
    filesystem,
    is_uri,
    join,
    normalize,
    store_error,
    stream_sha256,
)
from prixfixe_blocks.errors import DataError


class DatasetFiles:
    """The files of one dataset directory, local or behind a URI (see the module docstring)."""

    def __init__(self, location: str | Path) -> None:
        self.location = normalize(location)
        self.remote = is_uri(self.location)
        self.fs, self.base = filesystem(self.location)

    def __repr__(self) -> str:
        return f"DatasetFiles({self.location!r})"

    def where(self, name: str = "") -> str:
        """The location of one file of the dataset (for messages)."""
        return join(self.location, name) if name else self.location

    def exists(self) -> bool:
        """Whether the dataset directory (or, for a URI, anything under the prefix) exists."""
        if not self.remote:
            return Path(self.base).is_dir()
        return True  # object stores have no directories; a missing dataset.json says enough

    def read_text(self, name: str) -> str | None:
        """A small file's text, or None when it does not exist."""
        path = f"{self.base}/{name}"
        if file_type(self.fs, path, self.location) != pafs.FileType.File:
            return None
        try:
            with self.fs.open_input_stream(path, compression=None) as fh:
                return fh.read().decode()
        except OSError as err:
            raise store_error(err, self.where(name), "read") from None

    def missing(self, names: list[str]) -> list[str]:
        """Those of ``names`` that are not files of the dataset."""
        try:
            infos = self.fs.get_file_info([f"{self.base}/{n}" for n in names])
        except OSError as err:
            raise store_error(err, self.location, "list") from None
        return [n for n, info in zip(names, infos, strict=True)
                if info.type != pafs.FileType.File]

    def sha256(self, name: str) -> str:
        """SHA-256 of one file, streamed from where it lives."""
        try:
            with self.fs.open_input_stream(f"{self.base}/{name}", compression=None) as fh:
                return stream_sha256(fh)
        except OSError as err:
            raise store_error(err, self.where(name), "read") from None

    def local_shard(self, entry: dict[str, Any]) -> Path:
        """A local file with the shard's bytes: the file itself, or its verified cached copy."""
        if not self.remote:
            return Path(self.base) / entry["file"]
        return shard_cache().fetch(self.fs, f"{self.base}/{entry['file']}", entry["sha256"],
                                   self.where(entry["file"]))

    def read_shard(self, entry: dict[str, Any], columns: list[str] | None = None) -> pa.Table:
        """One Parquet shard as a table; DataError naming it when it cannot be read."""
        where = self.where(entry["file"])
        for attempt in (0, 1):
            path = self.local_shard(entry)
            try:
                handle = open(path, "rb")  # noqa: SIM115 (closed below; open first: eviction-safe)
            except FileNotFoundError:
                if self.remote and attempt == 0:
                    continue  # evicted from the cache between fetch and open: fetch again
                raise DataError("shard listed in dataset.json is missing", path=where) from None
            with handle:
                try:
                    return pq.read_table(handle, columns=columns)
                except (pa.ArrowException, OSError) as err:
                    raise DataError(f"cannot read Parquet shard: {err}", path=where) from None
        raise DataError("shard listed in dataset.json is missing", path=where)
