"""Splits: --split-col / --file-splits conversion, `data split` (hash, strands, atomic, bad
arguments) and the row selection every reader uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from prixfixe_blocks.data.format.schema import open_dataset, verify_dataset
from prixfixe_blocks.data.format.splits import FIT, TEST, TRAIN, VAL, select_rows
from prixfixe_blocks.data.read.parts import split_loader
from prixfixe_blocks.data.write import writer as writer_mod
from prixfixe_blocks.data.write.resplit import assign_splits, reverse_complements, split_dataset
from prixfixe_blocks.data.write.writer import DatasetWriter
from prixfixe_blocks.errors import DataError
from search.cli import main

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def rc(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def read_all(out: Path) -> dict[str, list]:
    meta = open_dataset(out)
    cols: dict[str, list] = {}
    for path in meta.shard_paths(out):
        table = pq.read_table(path)
        for name in table.column_names:
            cols.setdefault(name, []).extend(table[name].to_pylist())
    return cols


def random_seqs(n: int, seed: int = 0, length: int = 24) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def write_tsv(path: Path, rows: list[tuple], header: str = "seq\ty\tpart") -> Path:
    path.write_text(header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def tsv_dataset(tmp_path: Path, n: int = 3000, name: str = "d") -> tuple[Path, list[str]]:
    """n random sequences, then the reverse complements and exact copies of the first 200."""
    seqs = random_seqs(n)
    seqs += [rc(s) for s in seqs[:200]] + seqs[:200]
    src = write_tsv(tmp_path / f"{name}.tsv", [(s, i % 17) for i, s in enumerate(seqs)],
                    header="seq\ty")
    out = tmp_path / name
    assert main(["data", "convert", str(src), "--format", "tsv", "--sequence-col", "seq",
                 "--target-cols", "y", "--out", str(out), "--shard-rows", "700"]) == 0
    return out, seqs


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


# ----- conversion ----------------------------------------------------------------------------
def test_split_col_maps_common_spellings(tmp_path: Path, capsys: pytest.CaptureFixture):
    names = ["Train", " validation", "DEV", "valid", "test", "val", "training", "Testing"]
    rows = [(s, float(i), names[i % len(names)]) for i, s in enumerate(random_seqs(80))]
    src = write_tsv(tmp_path / "in.tsv", rows)
    out = tmp_path / "d"
    assert main(["data", "convert", str(src), "--format", "tsv", "--sequence-col", "seq",
                 "--target-cols", "y", "--split-col", "part", "--out", str(out)]) == 0
    assert "splits: train 20, val 40, test 20" in capsys.readouterr().out
    want = {"train": "train", "training": "train", "test": "test", "testing": "test"}
    got = read_all(out)["split"]
    assert got == [want.get(names[i % 8].strip().lower(), "val") for i in range(80)]
    meta = open_dataset(out)
    assert meta.splits == {"train": 20, "val": 40, "test": 20} and meta.rows == {"total": 80}
    # target statistics leave the test labels out (training normalises with them)
    trainable = [float(i) for i in range(80) if got[i] != "test"]
    assert meta.target_stats["y"]["mean"] == pytest.approx(np.mean(trainable))
    assert meta.target_stats["y"]["max"] == max(trainable) < 79.0
    assert main(["data", "info", str(out)]) == 0
    assert "splits:   train 20, val 40, test 20" in capsys.readouterr().out


def test_unknown_split_value_names_file_line_and_field(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture):
    rows = [("ACGT", 1, "train"), ("ACGA", 2, "test"), ("ACGG", 3, "holdout")]
    src = write_tsv(tmp_path / "in.tsv", rows)
    args = ["data", "convert", str(src), "--format", "tsv", "--sequence-col", "seq",
            "--target-cols", "y", "--split-col", "part", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"prixfixe-search: error: {src}, line 4, field 'part': "
                          "unknown split 'holdout' (expected train, val or test")
    assert not (tmp_path / "o").exists()
    assert main([*args, "--skip-invalid"]) == 0  # or rejected like any bad field
    assert read_all(tmp_path / "o")["split"] == ["train", "test"]
    assert "\t4\tpart\tunknown split 'holdout'" in (tmp_path / "o.rejects.tsv").read_text()
    assert main([*args[:-4], "--split-col", "nope", "--out", str(tmp_path / "p")]) == 2
    assert "line 1, field 'nope': missing column" in capsys.readouterr().err


def test_file_splits_and_deepstarr_set_column(shared_data: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture):
    files = [str(shared_data / "drosophila" / f"sample_{s}.txt") for s in ("train", "val")]
    base = ["data", "convert", *files, "--format", "deepstarr"]
    # the samples' own `set` column says Train in every file: all rows train, with a hint
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "splits: train 2,000, val 0, test 0" in out and "--file-splits" in out
    assert main([*base, "--file-splits", "train,dev", "--out", str(tmp_path / "b")]) == 0
    assert open_dataset(tmp_path / "b").splits == {"train": 1000, "val": 1000, "test": 0}
    assert main([*base, "--file-splits", "train", "--out", str(tmp_path / "c")]) == 2
    assert "1 split(s) for 2 input file(s)" in capsys.readouterr().err
    assert main([*base, "--file-splits", "train,later", "--out", str(tmp_path / "c")]) == 2
    assert "--file-splits: unknown split 'later'" in capsys.readouterr().err
    dream = str(shared_data / "dream" / "train_sample.txt")
    assert main(["data", "convert", dream, "--format", "dream", "--split-col", "x",
                 "--out", str(tmp_path / "c")]) == 2
    assert "--split-col needs a format with a header" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


# ----- data split ----------------------------------------------------------------------------
def test_data_split_is_stable_strand_blind_and_near_the_fractions(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture):
    data, seqs = tsv_dataset(tmp_path)
    before = open_dataset(data)
    assert main(["data", "split", str(data), "--test-fraction", "0.2", "--val-fraction", "0.1",
                 "--seed", "3"]) == 0
    assert "train" in capsys.readouterr().out
    got = read_all(data)
    assert got["sequence"] == seqs  # rows, order and folds kept; one column added
    meta = open_dataset(data)
    assert meta.columns == [*before.columns, "split"] and meta.fold_rows == before.fold_rows
    verify_dataset(data, meta)  # new shards, new checksums
    assert [s["sha256"] for s in meta.shards] != [s["sha256"] for s in before.shards]
    split = dict(zip(seqs, got["split"], strict=True))
    assert [split[rc(s)] for s in seqs[:200]] == [split[s] for s in seqs[:200]]
    assert got["split"][-200:] == got["split"][:200]  # exact duplicates too
    n = len(seqs[:3000])
    counts = {k: got["split"][:3000].count(k) for k in ("train", "val", "test")}
    assert abs(counts["test"] - 0.2 * n) < 0.03 * n and abs(counts["val"] - 0.1 * n) < 0.03 * n
    assert meta.splits == {k: got["split"].count(k) for k in ("train", "val", "test")}
    # the same call again gives the same split; another seed another one
    assert main(["data", "split", str(data), "--test-fraction", "0.2", "--val-fraction", "0.1",
                 "--seed", "3"]) == 2
    assert "already has a split column (train" in capsys.readouterr().err
    split_dataset(data, 0.2, 0.1, seed=3, overwrite=True)
    assert read_all(data)["split"] == got["split"]
    assert assign_splits(seqs, 0.2, 0.1, seed=4).to_pylist() != got["split"]
    # raising a fraction only moves rows out of train
    wider = assign_splits(seqs, 0.3, 0.1, seed=3).to_pylist()
    assert all(w == g for w, g in zip(wider, got["split"], strict=True) if g != "train")


def test_reverse_complements_vectorized():
    seqs = ["ACGTN", "", "aacg", "T", "GGGCCA"]
    assert reverse_complements(seqs).to_pylist() == ["NACGT", "", "CGTT", "A", "TGGCCC"]


def test_data_split_failure_mid_write_keeps_the_old_dataset(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    data, _ = tsv_dataset(tmp_path)
    assert len(open_dataset(data).shards) == 5
    before = snapshot(data)
    real, calls = DatasetWriter.write, []

    def failing(self: DatasetWriter, table) -> None:
        calls.append(table.num_rows)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real(self, table)

    monkeypatch.setattr(DatasetWriter, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        split_dataset(data, 0.1)
    assert len(calls) == 3  # it failed after writing two new shards
    assert snapshot(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "d.tsv"]  # no temporary left
    verify_dataset(data, open_dataset(data))
    assert "split" not in open_dataset(data).columns


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "two-renames"])
def test_replace_path_swaps_in_the_new_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               swap: bool):
    if not swap:
        monkeypatch.setattr(writer_mod, "_exchange", lambda a, b: False)
    data, _ = tsv_dataset(tmp_path, n=50)
    split_dataset(data, 0.5)
    assert "split" in open_dataset(data).columns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "d.tsv"]


@pytest.mark.parametrize(("args", "message"), [
    (["--test-fraction", "1"], "--test-fraction must be in [0, 1), got 1.0"),
    (["--test-fraction", "-0.1"], "--test-fraction must be in [0, 1), got -0.1"),
    (["--test-fraction", "nan"], "--test-fraction must be in [0, 1), got nan"),
    (["--test-fraction", "0.1", "--val-fraction", "1.5"], "--val-fraction must be in [0, 1)"),
    (["--test-fraction", "0.6", "--val-fraction", "0.4"],
     "--test-fraction + --val-fraction must be below 1, got 0.6 + 0.4"),
])
def test_data_split_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture,
                                  args: list[str], message: str):
    data, _ = tsv_dataset(tmp_path, n=50)
    before = snapshot(data)
    assert main(["data", "split", str(data), *args]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(data) == before


def test_data_split_missing_dataset(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main(["data", "split", str(tmp_path / "nope"), "--test-fraction", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"prixfixe-search: error: {tmp_path / 'nope'}: dataset directory not found"


# ----- selection -----------------------------------------------------------------------------
def rows_of(data: Path, part: str, val_folds=(0,)) -> list[int]:
    loader = split_loader(data, part, val_folds=val_folds, batch_size=256, shuffle=False,
                          columns=["y", "fold", "split"])
    return sorted(i for b in loader.epoch(0) for i in b.column("y").to_pylist())


def test_selection_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seqs = random_seqs(400)
    rows = [(s, i, ["train", "train", "val", "test"][i % 4]) for i, s in enumerate(seqs)]
    src = write_tsv(tmp_path / "in.tsv", rows)
    data = tmp_path / "d"
    assert main(["data", "convert", str(src), "--format", "tsv", "--sequence-col", "seq",
                 "--target-cols", "y", "--split-col", "part", "--out", str(data),
                 "--shard-rows", "90"]) == 0
    fold = read_all(data)["fold"]
    of = {k: [i for i in range(400) if rows[i][2] == k] for k in ("train", "val", "test")}
    assert rows_of(data, TRAIN) == of["train"]  # val split present: folds do not matter
    assert rows_of(data, VAL, val_folds=(3,)) == of["val"]
    assert rows_of(data, FIT) == sorted(of["train"] + of["val"])
    assert rows_of(data, TEST) == of["test"]
    # train/test only: validation = hash folds of the train rows; test rows in neither
    split_dataset(data, 0.25, overwrite=True)
    split = read_all(data)["split"]
    assert rows_of(data, TRAIN) == [i for i in range(400) if split[i] == "train" and fold[i]]
    assert rows_of(data, VAL) == [i for i in range(400) if split[i] == "train" and not fold[i]]
    assert rows_of(data, TEST) == [i for i in range(400) if split[i] == "test"]
    # no split column: hash folds as before, and no test rows to read
    plain, _ = tsv_dataset(tmp_path, n=40, name="plain")
    meta = open_dataset(plain)
    assert select_rows(meta, TRAIN).describe() == "folds not in [0]"
    assert select_rows(meta, VAL, (1, 2)).describe() == "folds [1, 2]"
    with pytest.raises(DataError, match="no test rows; make a test split with"):
        select_rows(meta, TEST)
    # a split column written before splits were checked is refused, not guessed
    raw = json.loads((data / "dataset.json").read_text())
    del raw["splits"]
    (data / "dataset.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match="no counts in dataset.json"):
        select_rows(open_dataset(data), TRAIN)


def test_data_split_keeps_the_rest_of_the_directory(tmp_path: Path):
    data = tmp_path / "sim"
    assert main(["data", "simulate", "--rows", "600", "--test-rows", "20", "--out",
                 str(data)]) == 0
    suite = snapshot(data / "test_suite")
    meta = split_dataset(data, 0.1, 0.1)
    assert sum(meta.splits.values()) == meta.rows["total"] == 600
    assert snapshot(data / "test_suite") == suite
    assert (data / "test_suite" / "suite.tsv").is_file()  # the simulator's suite, carried over
