"""data convert: round trips on the real samples, validation errors, atomic output, folds, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from prixfixe_blocks.data.format.schema import LEFT_ADAPTER, RIGHT_ADAPTER, open_dataset
from prixfixe_blocks.data.write.convert import convert
from prixfixe_blocks.data.write.formats import FORMATS, input_format
from prixfixe_blocks.errors import ConfigError, DataError
from search.cli import main


def read_all(out: Path) -> dict[str, list]:
    meta = open_dataset(out)
    tables = [pq.read_table(p) for p in meta.shard_paths(out)]
    cols: dict[str, list] = {}
    for t in tables:
        for name in t.column_names:
            cols.setdefault(name, []).extend(t[name].to_pylist())
    return cols


def read_tsv(path: Path, header: bool) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    names = lines[0].split("\t") if header else []
    return names, [ln.split("\t") for ln in (lines[1:] if header else lines)]


def f32(values: list[str]) -> list[float]:
    return np.array([float(v) for v in values], np.float32).tolist()


def test_dream_round_trip_with_plasmid(shared_data: Path, plasmid_path: Path, tmp_path: Path):
    src = shared_data / "dream" / "train_sample.txt"
    out = tmp_path / "dream"
    result = convert([src], out, FORMATS["dream"], plasmid=plasmid_path, shard_rows=2000,
                     chunk_rows=1000)
    _, rows = read_tsv(src, header=False)
    got = read_all(out)
    assert result.rows == len(rows) == len(got["sequence"])
    assert got["sequence"] == [r[0].upper() for r in rows]
    assert got["expression"] == f32([r[1] for r in rows])
    assert got["is_singleton"] == [int(float(r[1]).is_integer()) for r in rows]
    meta = open_dataset(out)
    assert [s["rows"] for s in meta.shards] == [2000, 2000, 2000, len(rows) - 6000]
    assert meta.columns == ["sequence", "expression", "fold", "is_singleton"]
    assert meta.rows == {"total": len(rows)} and sum(meta.fold_rows) == len(rows)
    lens = [len(r[0]) for r in rows]
    assert meta.seq_len == {"min": min(lens), "max": max(lens)}
    stats = meta.target_stats["expression"]
    assert stats["mean"] == pytest.approx(np.mean(f32([r[1] for r in rows])), rel=1e-6)
    plasmid = json.loads(plasmid_path.read_text())
    slot = plasmid.index("N" * 80)
    assert meta.plasmid["left_flank"] == plasmid[slot - len(meta.plasmid["left_flank"]): slot]
    assert meta.plasmid["right_flank"].startswith(plasmid[slot + 80: slot + 280])
    assert meta.plasmid["left_adapter"] == LEFT_ADAPTER
    assert meta.plasmid["right_adapter"] == RIGHT_ADAPTER
    assert len(meta.plasmid["left_flank"]) >= 200 and len(meta.plasmid["right_flank"]) >= 200


def test_dream_without_plasmid_has_null_plasmid(shared_data: Path, tmp_path: Path):
    convert([shared_data / "dream" / "train_sample.txt"], tmp_path / "d", FORMATS["dream"])
    raw = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert raw["plasmid"] is None
    for key in ("format_version", "source", "targets", "columns", "rows", "n_folds", "fold_rows",
                "seq_len", "shards", "target_stats", "created"):
        assert key in raw


def test_deepstarr_round_trip_three_files(shared_data: Path, tmp_path: Path):
    files = [shared_data / "drosophila" / f"sample_{s}.txt" for s in ("train", "val", "test")]
    convert(files, tmp_path / "ds", FORMATS["deepstarr"], shard_rows=1000,
            file_splits=["train", "validation", "test"])
    got = read_all(tmp_path / "ds")
    rows = [r for f in files for r in read_tsv(f, header=True)[1]]
    assert got["sequence"] == [r[5] for r in rows]
    assert got["Dev_log2_enrichment"] == f32([r[6] for r in rows])
    assert got["Hk_log2_enrichment"] == f32([r[7] for r in rows])
    assert got["split"] == ["train"] * 1000 + ["val"] * 1000 + ["test"] * 1000
    meta = open_dataset(tmp_path / "ds")
    assert meta.targets == ["Dev_log2_enrichment", "Hk_log2_enrichment"]
    assert meta.rows["total"] == 3000 and len(meta.shards) == 3
    assert meta.splits == {"train": 1000, "val": 1000, "test": 1000}


def test_lentimpra_round_trip_keeps_folds(shared_data: Path, tmp_path: Path):
    files = [shared_data / "human" / f"sample_{s}.txt" for s in ("train", "valid", "test")]
    convert(files, tmp_path / "h", FORMATS["lentimpra"])
    got = read_all(tmp_path / "h")
    rows = [r for f in files for r in read_tsv(f, header=True)[1]]
    assert got["sequence"] == [r[1] for r in rows]
    assert got["mean_value"] == f32([r[2] for r in rows])
    assert got["fold"] == [int(r[3]) for r in rows]
    meta = open_dataset(tmp_path / "h")
    assert meta.fold_rows == np.bincount([int(r[3]) for r in rows], minlength=10).tolist()


def test_generic_csv(tmp_path: Path):
    src = tmp_path / "x.csv"
    src.write_text("id,seq,a,b\n1,acgt,1.5,2\n2,NNAC,-3,4e-1\n")
    fmt = input_format("csv", "seq", "a,b")
    convert([src], tmp_path / "o", fmt)
    got = read_all(tmp_path / "o")
    assert got["sequence"] == ["ACGT", "NNAC"]
    assert got["a"] == [1.5, -3.0] and got["b"] == f32(["2", "0.4"])
    with pytest.raises(ConfigError, match="--sequence-col"):
        input_format("tsv", None, "a")


BAD_CASES = [
    ("bad base", "ACGT\t1\nACXT\t2\n", 2, "sequence", "invalid base 'X' at position 3"),
    ("empty sequence", "ACGT\t1\n\t2\n", 2, "sequence", "empty sequence"),
    ("nan target", "ACGT\t1\nACGT\tnan\nACGT\t3\n", 2, "expression", "not a finite number"),
    ("text target", "ACGT\t1\nACGT\t1\nACGT\tabc\n", 3, "expression", "not a finite number"),
    ("too many columns", "ACGT\t1\nACGT\t1\t5\n", 2, "columns", "expected 2 columns, found 3"),
    ("too few columns", "ACGT\t1\nACGT\n", 2, "columns", "expected 2 columns, found 1"),
]


@pytest.mark.parametrize(("case", "text", "line", "field", "message"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_first_bad_row_stops_with_file_line_field(tmp_path: Path, case: str, text: str,
                                                  line: int, field: str, message: str):
    src = tmp_path / "in.txt"
    src.write_text(text)
    out = tmp_path / "out"
    with pytest.raises(DataError) as err:
        convert([src], out, FORMATS["dream"], chunk_rows=1)
    assert (err.value.path, err.value.line, err.value.field) == (str(src), line, field)
    assert message in str(err.value) and f"line {line}" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]  # nothing half-written


def test_first_error_in_file_order_across_kinds(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_text("ACGT\t1\n" * 5 + "ACGT\t1\t2\n" + "ACGZ\t1\n")
    with pytest.raises(DataError, match="line 6, field 'columns'"):
        convert([src], tmp_path / "o", FORMATS["dream"])


def test_missing_column_and_empty_file(shared_data: Path, tmp_path: Path):
    src = tmp_path / "h.tsv"
    src.write_text("seq_id\tseq\tfold\nx\tACGT\t1\n")
    with pytest.raises(DataError, match="line 1, field 'mean_value': missing column"):
        convert([src], tmp_path / "o", FORMATS["lentimpra"])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match="empty file"):
        convert([empty], tmp_path / "o", FORMATS["dream"])
    header_only = tmp_path / "hdr.tsv"
    header_only.write_text("seq_id\tseq\tmean_value\tfold\n")
    with pytest.raises(DataError, match="empty file"):
        convert([header_only], tmp_path / "o", FORMATS["lentimpra"])
    with pytest.raises(DataError, match="input file not found"):
        convert([tmp_path / "nope.txt"], tmp_path / "o", FORMATS["dream"])
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_fold_value(tmp_path: Path):
    src = tmp_path / "h.tsv"
    src.write_text("seq_id\tseq\tmean_value\tfold\nx\tACGT\t1\t3\ny\tACGT\t1\t12\n")
    with pytest.raises(DataError, match=r"line 3, field 'fold': expected an integer in 0\.\.9"):
        convert([src], tmp_path / "o", FORMATS["lentimpra"])


def test_skip_invalid_writes_rejects(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_text("ACGT\t1\nACXT\t2\nAC\t1\t2\n\t4\nacgn\t5.5\nA\tinf\n")
    result = convert([src], tmp_path / "o", FORMATS["dream"], skip_invalid=True, chunk_rows=2)
    assert (result.rows, result.rejected) == (2, 4)
    assert read_all(tmp_path / "o")["sequence"] == ["ACGT", "ACGN"]
    rejects = result.rejects_path.read_text().splitlines()
    assert rejects[0] == "file\tline\tfield\terror\trow"
    assert [r.split("\t")[1:3] for r in rejects[1:]] == [
        ["2", "sequence"], ["3", "columns"], ["4", "sequence"], ["6", "expression"]]


def test_folds_stable_and_shared_by_duplicates(shared_data: Path, tmp_path: Path):
    src = shared_data / "dream" / "train_sample.txt"
    convert([src], tmp_path / "a", FORMATS["dream"], chunk_rows=500, shard_rows=700)
    convert([src], tmp_path / "b", FORMATS["dream"])
    a, b = read_all(tmp_path / "a"), read_all(tmp_path / "b")
    assert a["fold"] == b["fold"]
    counts = np.bincount(a["fold"], minlength=10)
    assert counts.min() > 0.8 * len(a["fold"]) / 10  # balanced
    dup = tmp_path / "dup.txt"
    seqs = a["sequence"][:50]
    dup.write_text("".join(f"{s.lower()}\t1\n" for s in seqs) + "".join(f"{s}\t2\n" for s in seqs))
    convert([dup], tmp_path / "c", FORMATS["dream"], chunk_rows=7)
    c = read_all(tmp_path / "c")
    assert c["fold"][:50] == c["fold"][50:] == a["fold"][:50]


def test_existing_output_and_overwrite(shared_data: Path, tmp_path: Path):
    src = shared_data / "human" / "sample_valid.txt"
    out = tmp_path / "h"
    convert([src], out, FORMATS["lentimpra"])
    with pytest.raises(DataError, match="already exists"):
        convert([src], out, FORMATS["lentimpra"])
    bad = tmp_path / "bad.tsv"
    bad.write_text("seq_id\tseq\tmean_value\tfold\nx\tACGU\t1\t3\n")
    with pytest.raises(DataError):
        convert([bad], out, FORMATS["lentimpra"], overwrite=True)
    assert open_dataset(out).rows["total"] == 1000  # failed overwrite keeps the old dataset
    convert([src], out, FORMATS["lentimpra"], overwrite=True, shard_rows=300)
    assert len(open_dataset(out).shards) == 4


def test_cli_exit_codes(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    src = shared_data / "dream" / "train_sample.txt"
    out = tmp_path / "d"
    assert main(["data", "convert", str(src), "--format", "dream", "--out", str(out)]) == 0
    assert "wrote 6,370 rows" in capsys.readouterr().out
    assert main(["data", "info", str(out), "--verify"]) == 0
    assert "checksums and row counts match" in capsys.readouterr().out
    bad = tmp_path / "bad.txt"
    bad.write_text("ACGT\t1\nACGT\t\n")
    conv = ["data", "convert", str(bad), "--out", str(tmp_path / "x"), "--format"]
    assert main([*conv, "dream"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"prixfixe-search: error: {bad}, line 2, field 'expression': "
                   "not a finite number: ''")
    assert not (tmp_path / "x").exists()
    assert main([*conv, "tsv"]) == 2
    assert "--sequence-col" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path / "missing")]) == 2
