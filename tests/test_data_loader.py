"""ShardLoader: exact coverage, seeded order, rank split, fold/split selection, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.write.writer import DatasetWriter
from prixfixe_blocks.errors import ConfigError, DataError

N_ROWS = 1003


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1003 rows in shards of 100 (11 shards); ``expression`` = row id, folds = id % 5."""
    out = tmp_path_factory.mktemp("loader") / "ds"
    ids = np.arange(N_ROWS)
    table = pa.table({
        "sequence": pa.array([f"ACGT{i:05d}".replace("0", "A") for i in ids]),
        "expression": pa.array(ids.astype(np.float32)),
        "fold": pa.array((ids % 5).astype(np.int8)),
        "split": pa.array(np.where(ids % 3 == 0, "val", "train").tolist()),
    })
    with DatasetWriter(out, targets=["expression"], n_folds=5, source={"format": "test"},
                       shard_rows=100, split_column="split") as w:
        w.write(table.slice(0, 450))
        w.write(table.slice(450))
        w.commit()
    return out


def ids(batches) -> list[int]:
    return [int(v) for b in batches for v in b.column("expression").to_numpy()]


def test_epoch_covers_each_row_once_and_differs_by_epoch(dataset: Path):
    loader = ShardLoader(dataset, batch_size=64, seed=1)
    assert len(loader) == 16 and loader.n_rows == N_ROWS
    e0, e1 = list(loader.epoch(0)), list(loader.epoch(1))
    assert [b.num_rows for b in e0] == [64] * 15 + [N_ROWS - 15 * 64]
    assert sorted(ids(e0)) == list(range(N_ROWS)) == sorted(ids(e1))
    assert ids(e0) != ids(e1)
    assert ids(e0) == ids(ShardLoader(dataset, batch_size=64, seed=1).epoch(0))
    assert ids(e0) != ids(ShardLoader(dataset, batch_size=64, seed=2).epoch(0))
    # shuffled across shards: the first batch draws from more than one shard
    assert len({i // 100 for i in ids(e0[:1])}) > 1
    assert e0[0].schema.names == ["sequence", "expression", "fold", "split"]


def test_no_shuffle_and_drop_last(dataset: Path):
    loader = ShardLoader(dataset, batch_size=100, shuffle=False, drop_last=True)
    assert len(loader) == 10
    assert ids(loader.epoch(3)) == list(range(1000))


def test_ranks_disjoint_and_cover(dataset: Path):
    seen = []
    for rank in range(3):
        loader = ShardLoader(dataset, batch_size=50, rank=rank, world_size=3, seed=4)
        seen.append(ids(loader.epoch(0)))
        assert len(seen[-1]) == loader.n_rows
    assert sorted(sum(seen, [])) == list(range(N_ROWS))
    assert not set(seen[0]) & set(seen[1])
    # more ranks than shards: rows are striped instead
    parts = [ids(ShardLoader(dataset, batch_size=50, rank=r, world_size=16).epoch(0))
             for r in range(16)]
    assert sorted(sum(parts, [])) == list(range(N_ROWS))
    with pytest.raises(ConfigError, match="rank"):
        ShardLoader(dataset, batch_size=8, rank=2, world_size=2)


def test_fold_and_split_selection(dataset: Path):
    val = ShardLoader(dataset, batch_size=32, folds=[0], columns=["expression"])
    train = ShardLoader(dataset, batch_size=32, exclude_folds=[0], columns=["expression"])
    v, t = ids(val.epoch(0)), ids(train.epoch(0))
    assert sorted(v) == [i for i in range(N_ROWS) if i % 5 == 0] and len(v) == val.n_rows
    assert sorted(t) == [i for i in range(N_ROWS) if i % 5] and len(t) == train.n_rows
    assert val.epoch(0).__next__().schema.names == ["expression"]
    s = ShardLoader(dataset, batch_size=32, split="val", exclude_folds=[1])
    assert sorted(ids(s.epoch(0))) == [i for i in range(N_ROWS) if i % 3 == 0 and i % 5 != 1]
    with pytest.raises(ConfigError, match="unknown columns"):
        ShardLoader(dataset, batch_size=8, columns=["nope"])


@pytest.mark.parametrize("kwargs", [
    {"batch_size": 64},
    {"batch_size": 64, "folds": [1, 2], "rank": 1, "world_size": 2},
    {"batch_size": 100, "batches_per_epoch": 7},
])
def test_start_batch_resumes_exactly(dataset: Path, kwargs: dict):
    loader = ShardLoader(dataset, seed=9, **kwargs)
    for epoch in (0, 2):
        full = list(loader.epoch(epoch))
        assert len(full) == len(loader)
        for k in sorted({1, min(5, len(loader)), len(loader) - 1, len(loader)}):
            resumed = list(ShardLoader(dataset, seed=9, **kwargs).epoch(epoch, start_batch=k))
            assert [ids([b]) for b in resumed] == [ids([b]) for b in full[k:]]


def test_batches_per_epoch_streams_through_passes(dataset: Path):
    loader = ShardLoader(dataset, batch_size=100, batches_per_epoch=4, seed=3)
    stream = [ids(loader.epoch(e)) for e in range(6)]  # 2400 rows: 2.4 passes
    assert all(len(s) == 400 for s in stream)
    flat = sum(stream, [])
    assert sorted(flat[:N_ROWS]) == list(range(N_ROWS))
    assert sorted(flat[N_ROWS: 2 * N_ROWS]) == list(range(N_ROWS))
    assert flat[:N_ROWS] != flat[N_ROWS: 2 * N_ROWS]


def test_missing_metadata_and_corrupt_shard(dataset: Path, tmp_path: Path):
    with pytest.raises(DataError, match="dataset directory not found"):
        ShardLoader(tmp_path / "none", batch_size=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="missing dataset.json"):
        open_dataset(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in dataset.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "part-00003.parquet").write_bytes(b"PAR1 garbage")
    loader = ShardLoader(bad, batch_size=100, shuffle=False)
    with pytest.raises(DataError, match=r"part-00003\.parquet: cannot read Parquet shard"):
        list(loader.epoch(0))
    (bad / "part-00004.parquet").unlink()
    with pytest.raises(DataError, match=r"part-00004\.parquet: shard listed in dataset.json"):
        ShardLoader(bad, batch_size=4)
