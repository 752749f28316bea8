"""Where a dataset lives: a local directory or a URI that ``pyarrow.fs`` resolves.

``s3://bucket/prefix``, ``gs://bucket/prefix``, ``file:///abs/path``, ``hdfs://...`` and any
other scheme ``pyarrow.fs.FileSystem.from_uri`` knows (query options such as
``?endpoint_override=host:port&scheme=http`` are kept). Credentials come from the usual
environment of each store (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL``,
``GOOGLE_APPLICATION_CREDENTIALS``, instance profiles ...). Store errors (unreachable endpoint,
wrong credentials, missing bucket) become ``DataError``s that name the URI. One dataset's files
are read through ``files.DatasetFiles``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.fs as pafs

from prixfixe_blocks.errors import DataError

URI_MARK = "://"
DATA_CHANGED = "dataset changed"  # in every error about data that is not what was recorded
READ_BLOCK = 1 << 20
_DENIED = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "403", "PermissionDenied",
           "Unauthenticated")
_UNREACHABLE = ("NETWORK_CONNECTION", "connect to server", "curlCode", "Could not resolve",
                "Connection refused", "timed out", "UNAVAILABLE")


def is_uri(location: str | Path) -> bool:
    """Whether ``location`` is a URI (``scheme://...``) rather than a local path."""
    return isinstance(location, str) and URI_MARK in location


def normalize(location: str | Path) -> str:
    """A URI as given (no trailing slash before its query), or a local path made absolute."""
    if is_uri(location):
        base, sep, query = str(location).partition("?")
        return base.rstrip("/") + sep + query
    return str(Path(location).expanduser().resolve())


def as_location(location: str | Path) -> str | Path:
    """A URI as a string, a local path as a ``Path`` (``Path`` would fold ``s3://`` to ``s3:/``)."""
    return normalize(location) if is_uri(location) else Path(location)


def join(location: str, *names: str) -> str:
    """``location/name/...`` for a URI (before its query string) or a local path."""
    if not is_uri(location):
        return str(Path(location, *names))
    base, sep, query = location.partition("?")
    return "/".join([base.rstrip("/"), *names]) + sep + query


def store_error(err: BaseException, location: str, action: str) -> DataError:
    """A DataError for a failed store operation, naming the location and the likely cause."""
    text = " ".join(str(err).split())
    if any(mark in text for mark in _DENIED):
        cause = "access denied: check the store's credentials (e.g. AWS_ACCESS_KEY_ID / " \
                "AWS_SECRET_ACCESS_KEY) and their permissions"
    elif any(mark in text for mark in _UNREACHABLE):
        cause = "the object store cannot be reached: check its endpoint (e.g. AWS_ENDPOINT_URL) " \
                "and the network"
    else:
        cause = "store error"
    return DataError(f"cannot {action}: {cause} ({text[:300]})", path=location)


def filesystem(location: str | Path) -> tuple[pafs.FileSystem, str]:
    """The pyarrow file system and the path inside it; DataError for an unknown scheme."""
    if not is_uri(location):
        return pafs.LocalFileSystem(), normalize(location)
    try:
        return pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as err:
        raise DataError(f"not a location pyarrow can open ({err})", path=str(location)) from None
    except OSError as err:
        raise store_error(err, str(location), "open the store") from None


def file_type(fs: pafs.FileSystem, path: str, location: str) -> pafs.FileType:
    """The type of ``path`` (File, Directory, NotFound); store errors become DataErrors."""
    try:
        return fs.get_file_info(path).type
    except OSError as err:
        raise store_error(err, location, "read") from None


def open_input(location: str | Path) -> pa.NativeFile:
    """A raw input stream of one file (local or URI); DataError if missing or unreachable."""
    loc = normalize(location)
    fs, path = filesystem(loc)
    if file_type(fs, path, loc) != pafs.FileType.File:
        raise DataError("input file not found", path=str(location))
    try:
        return fs.open_input_stream(path, compression=None)
    except OSError as err:
        raise store_error(err, loc, "read") from None


def stream_sha256(stream: BinaryIO | pa.NativeFile, out: BinaryIO | None = None) -> str:
    """Hex SHA-256 of a stream read in 1 MiB blocks (copied to ``out`` on the way when given):
    the one hash of shard files, written, verified or downloaded."""
    digest = hashlib.sha256()
    while block := stream.read(READ_BLOCK):
        digest.update(block)
        if out is not None:
            out.write(block)
    return digest.hexdigest()
