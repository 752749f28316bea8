"""Dataset metadata, stable folds, hashing and `data info` (checksums)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from prixfixe_blocks.data.format.schema import open_dataset, sequence_hash, stable_fold
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.store.files import DatasetFiles
from prixfixe_blocks.data.write.writer import DatasetWriter
from prixfixe_blocks.errors import DataError
from search.cli import main


def small_dataset(out: Path, n: int = 300, shard_rows: int = 50) -> Path:
    seqs = [("ACGT" * 3)[i % 7:] + "ACGT"[i % 4] * (i % 5 + 1) + str(i) for i in range(n)]
    seqs = [s.replace(str(i), "N" * (i % 3)) for i, s in enumerate(seqs)]
    table = pa.table({"sequence": seqs, "y": pa.array(np.arange(n, dtype=np.float32)),
                      "fold": pa.array(stable_fold(seqs, 4))})
    with DatasetWriter(out, targets=["y"], n_folds=4, source={"format": "test"},
                       shard_rows=shard_rows) as w:
        w.write(table)
        w.commit()
    return out


def test_stable_fold_properties():
    seqs = ["ACGT", "acgt", "ACGTA", "", "TTTTTTTTTT" * 20]
    a = stable_fold(seqs, 10)
    assert a.dtype == np.int8 and a[0] == a[1]  # case-insensitive, duplicates share a fold
    arr = pa.array(seqs * 3).slice(5, 5)  # same values at another Arrow offset
    assert np.array_equal(stable_fold(arr, 10), a)
    assert np.array_equal(stable_fold(seqs[::-1], 10), a[::-1])  # independent of row order
    # pinned values: the hash must never change between releases (folds of existing datasets)
    assert sequence_hash(["ACGT"]).tolist() == [8865247531563336341]
    pinned = ["ACGT", "TTACCCGG", "GATTACA", "CCCCCCCCCC", "A", "T", "G"]
    assert stable_fold(pinned, 10).tolist() == [1, 6, 8, 7, 1, 7, 0]
    rng = np.random.default_rng(0)
    many = ["".join(rng.choice(list("ACGT"), 20)) for _ in range(5000)]
    counts = np.bincount(stable_fold(many, 10), minlength=10)
    assert counts.min() > 400 and counts.max() < 600
    with pytest.raises(DataError, match="n_folds"):
        stable_fold(seqs, 0)


def test_writer_metadata_and_info(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = small_dataset(tmp_path / "d")
    meta = open_dataset(out)
    assert [s["rows"] for s in meta.shards] == [50] * 6
    assert all(len(s["sha256"]) == 64 for s in meta.shards)
    assert meta.target_stats["y"]["mean"] == pytest.approx(149.5)
    assert meta.target_stats["y"]["std"] == pytest.approx(np.arange(300).std())
    assert main(["data", "info", str(out), "--verify"]) == 0
    assert "shards:   6" in capsys.readouterr().out
    shard = out / "part-00002.parquet"
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    assert main(["data", "info", str(out), "--verify"]) == 2
    assert "part-00002.parquet: checksum mismatch" in capsys.readouterr().err


def test_open_dataset_errors(tmp_path: Path):
    out = small_dataset(tmp_path / "d")
    raw = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").write_text(json.dumps({**raw, "format_version": 9}))
    with pytest.raises(DataError, match="unsupported format_version 9"):
        open_dataset(out)
    (out / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match="dataset.json: invalid JSON"):
        open_dataset(out)


def test_writer_failure_leaves_nothing(tmp_path: Path):
    with pytest.raises(RuntimeError), DatasetWriter(tmp_path / "x", targets=["y"], n_folds=2,
                                                    source={"format": "t"}) as w:
        w.write(pa.table({"sequence": ["A"], "y": pa.array([1.0], pa.float32()),
                          "fold": pa.array([0], pa.int8())}))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_resume_reads_only_needed_buffers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = small_dataset(tmp_path / "d")
    reads: list[str] = []
    real = DatasetFiles.read_shard

    def counting(self: DatasetFiles, entry: dict, columns=None):
        reads.append(entry["file"])
        return real(self, entry, columns)

    monkeypatch.setattr(DatasetFiles, "read_shard", counting)
    loader = ShardLoader(out, batch_size=10, shuffle_shards=2)
    reads.clear()
    last = list(loader.epoch(0, start_batch=len(loader) - 1))
    assert len(last) == 1 and len(reads) == 2  # one buffer of two shards, not all six
