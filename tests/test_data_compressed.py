"""`data convert` reads gzip, bzip2 and zstd inputs (by name and by first bytes), streaming,
from paths or URIs; a truncated or misnamed file is a clear error that leaves nothing."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from prixfixe_blocks.data.format.schema import dataset_checksum, open_dataset
from prixfixe_blocks.data.write.convert import convert
from prixfixe_blocks.data.write.formats import FORMATS
from search.cli import main
from tests.s3_support import BUCKET, MotoS3

LINES = 1500
COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress,
            ".zst": lambda data: pa.compress(data, codec="zstd", asbytes=True)}


@pytest.fixture(scope="module")
def dream_text(shared_data: Path) -> bytes:
    """The first LINES lines of the real DREAM sample."""
    lines = (shared_data / "dream" / "train_sample.txt").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:LINES])


def _checksum(path: Path | str, out: Path, **kwargs: object) -> str:
    convert([path], out, FORMATS["dream"], shard_rows=400, chunk_rows=300, **kwargs)
    return dataset_checksum(open_dataset(out))


def test_compressed_inputs_give_the_same_dataset(dream_text: bytes, tmp_path: Path) -> None:
    plain = tmp_path / "train.txt"
    plain.write_bytes(dream_text)
    want = _checksum(plain, tmp_path / "plain")
    assert open_dataset(tmp_path / "plain").rows["total"] == LINES
    for suffix, compress in COMPRESS.items():
        packed = tmp_path / f"train.txt{suffix}"
        packed.write_bytes(compress(dream_text))
        assert _checksum(packed, tmp_path / f"out{suffix}") == want, suffix
        unnamed = tmp_path / f"unnamed{suffix[1:]}.txt"  # recognised by its first bytes
        unnamed.write_bytes(compress(dream_text))
        assert _checksum(unnamed, tmp_path / f"magic{suffix}") == want, suffix
    members = tmp_path / "members.gz"  # two gzip members, as `cat a.gz b.gz` makes
    half = dream_text.index(b"\n", len(dream_text) // 2) + 1
    members.write_bytes(gzip.compress(dream_text[:half]) + gzip.compress(dream_text[half:]))
    assert _checksum(members, tmp_path / "members") == want


def test_compressed_input_on_s3(s3: MotoS3, dream_text: bytes, tmp_path: Path) -> None:
    plain = tmp_path / "train.txt"
    plain.write_bytes(dream_text)
    want = _checksum(plain, tmp_path / "plain")
    s3.client().put_object(Bucket=BUCKET, Key="inputs/train.txt.zst",
                           Body=COMPRESS[".zst"](dream_text))
    out = s3.uri("converted")
    assert main(["data", "convert", s3.uri("inputs/train.txt.zst"), "--format", "dream",
                 "--out", out, "--shard-rows", "400", "--chunk-rows", "300"]) == 0
    assert dataset_checksum(open_dataset(out)) == want
    assert main(["data", "info", out, "--verify"]) == 0


def _nothing_written(out: Path) -> bool:
    return not out.exists() and not [p for p in out.parent.iterdir() if out.name in p.name]


def test_truncated_gzip_is_a_clear_error_and_writes_nothing(
        dream_text: bytes, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    packed = gzip.compress(dream_text * 20)
    for keep in (len(packed) // 2, 30):  # cut in the middle, and inside the first block
        bad = tmp_path / f"cut{keep}.txt.gz"
        bad.write_bytes(packed[:keep])
        out = tmp_path / "out" / f"d{keep}"
        out.parent.mkdir(exist_ok=True)
        code = main(["data", "convert", str(bad), "--format", "dream", "--out", str(out),
                     "--shard-rows", "400", "--chunk-rows", "300"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert str(bad) in err and "gzip" in err and "truncated" in err.lower()
        assert _nothing_written(out)


def test_misnamed_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fake = tmp_path / "plain.txt.gz"
    fake.write_text("ACGT\t1.0\n")
    out = tmp_path / "d"
    assert main(["data", "convert", str(fake), "--format", "dream", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(fake) in err and "the name says gzip" in err
    assert _nothing_written(out)
