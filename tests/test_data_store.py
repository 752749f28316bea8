"""Datasets on an object store (a real S3-compatible server): written with dataset.json last,
read through the verified, bounded shard cache exactly like a local dataset; store errors are
clear."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from prixfixe_blocks.data.format.dataset import check_dataset
from prixfixe_blocks.data.format.schema import dataset_checksum, open_dataset
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.data.store.cache import ShardCache
from prixfixe_blocks.data.write import publish as publish_mod
from prixfixe_blocks.data.write.resplit import split_dataset
from prixfixe_blocks.errors import DataError
from search.cli import main
from tests.s3_support import BUCKET, MotoS3

ROWS, SHARD_ROWS = 600, 200


def _batches(loader: ShardLoader, epoch: int, start: int = 0) -> list[list[str]]:
    return [b.column("sequence").to_pylist() for b in loader.epoch(epoch, start)]


def test_dataset_on_s3_reads_exactly_like_the_local_copy(s3: MotoS3, tmp_path: Path) -> None:
    local, uri = tmp_path / "local", s3.uri("sim")
    simulate(local, ROWS, seed=3, test_rows=10, shard_rows=SHARD_ROWS)
    simulate(uri, ROWS, seed=3, test_rows=10, shard_rows=SHARD_ROWS)
    keys = s3.keys("sim/")
    assert "sim/dataset.json" in keys and "sim/test_suite/suite.tsv" in keys
    remote_meta, local_meta = open_dataset(uri), open_dataset(local)
    assert dataset_checksum(remote_meta) == dataset_checksum(local_meta)
    for entry in remote_meta.shards:  # published under a content name, listed in dataset.json
        assert entry["file"] == f"part-{entry['file'][5:10]}-{entry['sha256'][:16]}.parquet"
        assert f"sim/{entry['file']}" in keys

    kwargs = {"batch_size": 64, "exclude_folds": [0], "columns": ["sequence"], "seed": 5}
    remote, here = ShardLoader(uri, **kwargs), ShardLoader(local, **kwargs)
    assert remote.n_rows == here.n_rows and len(remote) == len(here)
    assert _batches(remote, 1) == _batches(here, 1)
    assert _batches(remote, 2, start=4) == _batches(here, 2, start=4)  # exact resume
    cached = sorted(p.name for p in (tmp_path / "cache" / "shards").glob("*.parquet"))
    assert cached == sorted(f"{s['sha256']}.parquet" for s in remote_meta.shards)


def test_shard_cache_verifies_downloads_and_stays_under_its_cap(tmp_path: Path) -> None:
    source = tmp_path / "store"
    source.mkdir()
    shas = []
    for i in range(3):
        data = bytes([i]) * 1000
        (source / f"s{i}").write_bytes(data)
        shas.append(hashlib.sha256(data).hexdigest())
    fs = pafs.LocalFileSystem()
    cache = ShardCache(tmp_path / "cache", max_bytes=2500)
    for i in range(3):
        assert cache.fetch(fs, str(source / f"s{i}"), shas[i], f"s{i}").read_bytes() \
            == bytes([i]) * 1000
    left = sorted(p.name for p in cache.root.glob("*.parquet"))
    assert left == sorted(f"{s}.parquet" for s in shas[1:])  # the least recently used went
    with pytest.raises(DataError, match="checksum mismatch.*dataset changed"):
        cache.fetch(fs, str(source / "s0"), shas[2].replace(shas[2][0], "x", 1), "s0")
    assert not list(cache.root.glob(".fetch-*"))  # no partial download left behind


def test_overwrite_on_s3_keeps_the_old_dataset_until_dataset_json_is_written(
        s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = s3.uri("over")
    simulate(uri, ROWS, seed=1, test_rows=10, shard_rows=SHARD_ROWS)
    old_keys, old_sum = s3.keys("over/"), dataset_checksum(open_dataset(uri))

    def broken_commit(*args: object) -> None:
        raise OSError("connection lost before the commit")

    write = publish_mod._write
    monkeypatch.setattr(publish_mod, "_write", broken_commit)
    with pytest.raises(OSError, match="connection lost"):
        simulate(uri, ROWS, seed=2, test_rows=10, shard_rows=SHARD_ROWS, overwrite=True)
    assert s3.keys("over/") == old_keys  # new shards removed again, the old dataset intact
    assert dataset_checksum(open_dataset(uri)) == old_sum
    monkeypatch.setattr(publish_mod, "_write", write)
    simulate(uri, ROWS, seed=2, test_rows=10, shard_rows=SHARD_ROWS, overwrite=True)
    new = open_dataset(uri)
    assert dataset_checksum(new) != old_sum
    shards = [k for k in s3.keys("over/") if k.count("/") == 1 and k.endswith(".parquet")]
    assert shards == sorted(f"over/{s['file']}" for s in new.shards)  # old shards deleted


def test_data_split_rewrites_a_dataset_on_s3(s3: MotoS3) -> None:
    uri = s3.uri("split")
    simulate(uri, ROWS, seed=4, test_rows=10, shard_rows=SHARD_ROWS)
    meta = split_dataset(uri, 0.2, 0.1, seed=0)
    again = open_dataset(uri)
    assert again.splits == meta.splits and sum(meta.splits.values()) == ROWS
    assert meta.splits["test"] > 0 and meta.splits["val"] > 0
    assert "split/test_suite/suite.tsv" in s3.keys("split/")  # the rest of the dataset kept
    shards = [k for k in s3.keys("split/") if k.count("/") == 1 and k.endswith(".parquet")]
    assert len(shards) == len(again.shards)


def test_a_changed_shard_or_dataset_is_refused(s3: MotoS3, tmp_path: Path) -> None:
    uri = s3.uri("changed")
    simulate(uri, ROWS, seed=5, test_rows=10, shard_rows=SHARD_ROWS)
    meta = open_dataset(uri)
    recorded = dataset_checksum(meta)
    check_dataset(uri, recorded)
    with pytest.raises(DataError, match="dataset changed since the search started"):
        check_dataset(uri, "0" * 16)
    first, second = (f"changed/{s['file']}" for s in meta.shards[:2])
    body = s3.client().get_object(Bucket=BUCKET, Key=second)["Body"].read()
    s3.client().put_object(Bucket=BUCKET, Key=first, Body=body)  # shard replaced in place
    with pytest.raises(DataError, match=r"part-00000.*checksum mismatch.*dataset changed"):
        ShardLoader(uri, batch_size=32, folds=[0])

    local = tmp_path / "local"
    simulate(local, ROWS, seed=5, test_rows=10, shard_rows=SHARD_ROWS)
    check_dataset(local, recorded)
    shard = local / open_dataset(local).shards[1]["file"]
    shard.write_bytes((local / open_dataset(local).shards[0]["file"]).read_bytes())
    with pytest.raises(DataError, match="dataset changed since the search started"):
        check_dataset(local, recorded)


def test_store_errors_are_clear_and_leave_nothing(
        s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    uri = s3.uri("errors")
    simulate(uri, ROWS, seed=6, test_rows=10, shard_rows=SHARD_ROWS)
    before = s3.keys("errors")
    sample = tmp_path / "in.txt"
    sample.write_text("ACGTACGTAC\t1.5\n" * 20)

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    assert main(["data", "info", uri]) == 2
    assert "access denied" in capsys.readouterr().err
    assert main(["data", "convert", str(sample), "--format", "dream",
                 "--out", s3.uri("errors-new")]) == 2
    err = capsys.readouterr().err
    assert "errors-new" in err and "access denied" in err

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    assert main(["data", "convert", str(sample), "--format", "dream",
                 "--out", "s3://no-such-bucket/d"]) == 2
    assert "bucket 'no-such-bucket' not found" in capsys.readouterr().err
    assert main(["data", "info", s3.uri("nothing-here")]) == 2
    assert "missing dataset.json" in capsys.readouterr().err

    closed = MotoS3()  # a port nothing listens on
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed.endpoint)
    assert main(["data", "convert", str(sample), "--format", "dream", "--out", uri + "-x"]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "errors-x" in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert s3.keys("errors") == before  # nothing written anywhere
