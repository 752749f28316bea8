"""Opening a converter's input: a local path or a URI, plain or gzip / bzip2 / zstd compressed.

The compression is recognised by the file name (``.gz``/``.gzip``, ``.bz2``, ``.zst``/``.zstd``)
and by the first bytes (gzip ``1f 8b``, bzip2 ``BZh``, zstd ``28 b5 2f fd``), so a compressed
file with a plain name is read too, and a file whose name and bytes disagree is refused. The
stream is decompressed block by block as the CSV reader pulls it (Arrow's
``CompressedInputStream``): memory stays bounded whatever the file size. A truncated or corrupt
compressed file raises a DataError naming it (``read_error``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from prixfixe_blocks.data.store.location import open_input
from prixfixe_blocks.errors import DataError

# codec -> (magic bytes, file name endings); codec names are Arrow's.
CODECS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "gzip": (b"\x1f\x8b", (".gz", ".gzip")),
    "bz2": (b"BZh", (".bz2",)),
    "zstd": (b"\x28\xb5\x2f\xfd", (".zst", ".zstd")),
}
MAGIC_BYTES = max(len(magic) for magic, _ in CODECS.values())


def codec_of(location: str | Path, head: bytes) -> str | None:
    """The compression of a file from its name and first bytes (None: not compressed)."""
    name = str(location).partition("?")[0].lower()
    by_name = next((c for c, (_, ends) in CODECS.items() if name.endswith(ends)), None)
    by_magic = next((c for c, (magic, _) in CODECS.items() if head.startswith(magic)), None)
    if by_name and by_magic != by_name:
        found = f"{by_magic} data" if by_magic else "no compressed data"
        raise DataError(f"the name says {by_name} but the file starts with {found} (corrupt, "
                        "or misnamed?)", path=str(location))
    return by_magic


def open_text(location: str | Path) -> tuple[pa.NativeFile, str | None]:
    """A decompressing input stream of the file and its codec (None when plain)."""
    with open_input(location) as probe:
        head = probe.read(MAGIC_BYTES)
    codec = codec_of(location, head)
    raw = open_input(location)
    return (raw if codec is None else pa.CompressedInputStream(raw, codec)), codec


def read_error(location: str | Path, codec: str | None, err: BaseException) -> DataError:
    """A DataError for a failure while reading (decompressing) an input file."""
    what = f"{codec}-compressed input" if codec else "input"
    hint = " (truncated or corrupt file?)" if codec else ""
    return DataError(f"cannot read {what}: {err}{hint}", path=str(location))
