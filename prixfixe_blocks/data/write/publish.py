"""Writing a dataset to a URI: staged on local disk, uploaded with ``dataset.json`` last.

``data convert / simulate / split`` write through ``dataset_output``. For a local ``--out`` it
is the directory itself (``DatasetWriter`` renames a finished temporary directory into place).
For a URI the dataset is first written completely into a local staging directory and then
published: nested datasets (the simulator's ``test_suite/``) and other files first, then the
shards, then ``dataset.json`` (the commit marker: readers open a dataset through it, so they see
the old dataset or the new one, never a half-uploaded one). Object stores cannot rename, so a
published shard's name carries its content hash (``part-00000-<sha256[:16]>.parquet``): an
``--overwrite`` never touches the shards the old dataset.json lists until the new one is in
place, then deletes those no longer listed. A failed upload deletes what it uploaded.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from prixfixe_blocks.data.format.schema import META_FILE
from prixfixe_blocks.data.store.location import (
    READ_BLOCK,
    file_type,
    filesystem,
    is_uri,
    normalize,
    store_error,
)
from prixfixe_blocks.data.write.writer import prepare_output
from prixfixe_blocks.errors import DataError

SHARD_PREFIX = "part-"
SHARD_SUFFIX = ".parquet"
HASH_CHARS = 16


@contextlib.contextmanager
def dataset_output(out: str | Path, overwrite: bool) -> Iterator[Path]:
    """The local directory to write a dataset into: ``out`` itself, or for a URI a staging
    directory that is published to ``out`` when the block ends without an error."""
    if not is_uri(out):
        prepare_output(Path(out), overwrite)
        yield Path(out)
        return
    dest = normalize(out)
    check_destination(dest, overwrite)
    stage = Path(tempfile.mkdtemp(prefix="prixfixe-stage-"))
    try:
        yield stage / "dataset"
        publish(stage / "dataset", dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def check_destination(dest: str, overwrite: bool) -> None:
    """Before any work: the store is reachable with these credentials, its bucket exists, and
    there is no dataset at ``dest`` unless ``overwrite``."""
    fs, base = filesystem(dest)
    if isinstance(fs, pafs.LocalFileSystem):
        Path(base).parent.mkdir(parents=True, exist_ok=True)
    else:
        bucket = base.split("/", 1)[0]
        if file_type(fs, bucket, dest) == pafs.FileType.NotFound:
            raise DataError(f"bucket '{bucket}' not found (create it first)", path=dest)
    if file_type(fs, f"{base}/{META_FILE}", dest) == pafs.FileType.File and not overwrite:
        raise DataError("output already exists (use --overwrite to replace it)", path=dest)


def shard_name(entry: dict[str, Any]) -> str:
    """The published name of a shard: its local stem plus the start of its sha256."""
    stem = "-".join(Path(entry["file"]).name.removesuffix(SHARD_SUFFIX).split("-")[:2])
    return f"{stem}-{entry['sha256'][:HASH_CHARS]}{SHARD_SUFFIX}"


def publish(local: Path, dest: str) -> None:
    """Upload the dataset directory ``local`` to ``dest`` (see the module docstring)."""
    fs, base = filesystem(dest)
    commits: list[tuple[str, bytes, set[str]]] = []  # (directory, new dataset.json, its shards)
    uploaded: list[str] = []
    replaced: list[tuple[str, bytes | None]] = []  # other files overwritten, old content
    done: list[tuple[str, bytes | None]] = []  # committed dataset.json paths, old content
    try:
        _upload_dataset(fs, local, base, dest, commits, uploaded, replaced)
        for directory, meta, _ in commits:  # nested datasets first, this one's dataset.json last
            path = f"{directory}/{META_FILE}"
            done.append((path, _read(fs, path)))
            _write(fs, path, meta, dest)
    except BaseException:
        for path, old in reversed(done + replaced):
            with contextlib.suppress(OSError):
                _write(fs, path, old, dest) if old is not None else fs.delete_file(path)
        keep = {f"{d}/{name}" for d, _, _ in commits for name in _listed_shards(fs, d, dest)}
        restored = {path for path, old in replaced if old is not None}
        for path in uploaded:  # what the old dataset.json files list stays
            if path not in keep and path not in restored:
                with contextlib.suppress(OSError):
                    fs.delete_file(path)
        raise
    for directory, _, shards in commits:
        _delete_unlisted(fs, directory, shards)


def _upload_dataset(fs: pafs.FileSystem, local: Path, base: str, dest: str,
                    commits: list[tuple[str, bytes, set[str]]], uploaded: list[str],
                    replaced: list[tuple[str, bytes | None]]) -> None:
    """Upload a dataset's files but not its dataset.json (nor its nested datasets'): those are
    appended to ``commits``, innermost first, with the shard names they list. Other files
    (e.g. the simulator's suite TSVs) keep their names: their old content goes to ``replaced``
    so that a failed publish can put it back."""
    meta = json.loads((local / META_FILE).read_text())
    listed = {s["file"] for s in meta["shards"]}
    for entry in sorted(local.iterdir()):
        if entry.name == META_FILE or entry.name in listed:
            continue
        if entry.is_dir() and (entry / META_FILE).is_file():
            _upload_dataset(fs, entry, f"{base}/{entry.name}", dest, commits, uploaded,
                            replaced)
        else:
            files = [entry, *sorted(entry.rglob("*"))] if entry.is_dir() else [entry]
            for file in (f for f in files if f.is_file()):
                path = f"{base}/{file.relative_to(local).as_posix()}"
                replaced.append((path, _read(fs, path)))
            uploaded += _upload(fs, entry, f"{base}/{entry.name}", dest)
    for shard in meta["shards"]:
        name = shard_name(shard)
        uploaded += _upload(fs, local / shard["file"], f"{base}/{name}", dest)
        shard["file"] = name
    text = (json.dumps(meta, indent=2) + "\n").encode()
    commits.append((base, text, {s["file"] for s in meta["shards"]}))


def upload_file(local: Path, dest: str) -> None:
    """Upload one file to the URI ``dest`` (e.g. ``OUT.rejects.tsv``)."""
    fs, path = filesystem(dest)
    _upload(fs, local, path, dest)


def _upload(fs: pafs.FileSystem, local: Path, path: str, dest: str) -> list[str]:
    """Copy a local file or directory tree to ``path``; returns the files written."""
    if local.is_dir():
        written = []
        for child in sorted(local.iterdir()):
            written += _upload(fs, child, f"{path}/{child.name}", dest)
        return written
    try:
        with open(local, "rb") as src, fs.open_output_stream(path, compression=None) as out:
            while block := src.read(READ_BLOCK):
                out.write(block)
    except OSError as err:
        raise store_error(err, dest, f"upload {local.name}") from None
    return [path]


def _read(fs: pafs.FileSystem, path: str) -> bytes | None:
    """A file's bytes, or None when it does not exist."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path, compression=None) as fh:
        return fh.read()


def _write(fs: pafs.FileSystem, path: str, data: bytes, dest: str) -> None:
    try:
        with fs.open_output_stream(path, compression=None) as out:
            out.write(data)
    except OSError as err:
        raise store_error(err, dest, f"write {META_FILE}") from None


def _listed_shards(fs: pafs.FileSystem, base: str, dest: str) -> set[str]:
    """The shards the dataset.json now at ``base`` lists (empty when there is none)."""
    try:
        text = _read(fs, f"{base}/{META_FILE}")
        return {s["file"] for s in json.loads(text).get("shards", [])} if text else set()
    except (OSError, ValueError, AttributeError):
        return set()


def _delete_unlisted(fs: pafs.FileSystem, base: str, keep: set[str]) -> None:
    """Delete the shard files beside dataset.json that it no longer lists (best effort)."""
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=False))
    except OSError:
        return
    for info in infos:
        name = info.base_name
        if (info.type == pafs.FileType.File and name.startswith(SHARD_PREFIX)
                and name.endswith(SHARD_SUFFIX) and name not in keep):
            with contextlib.suppress(OSError):
                fs.delete_file(info.path)
