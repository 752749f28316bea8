"""Simulator: deterministic, DREAM-like sequences, labels that track the documented truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prixfixe_blocks.data.format.schema import LEFT_ADAPTER, RIGHT_ADAPTER, open_dataset
from prixfixe_blocks.data.format.suite_tsv import PAIRS_FILE, SUITE_DIR, SUITE_FILE, read_suite
from prixfixe_blocks.data.read.encode import plasmid_pad
from prixfixe_blocks.data.simulate.motifs import MOTIFS, pwm, reverse_pwm
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.data.simulate.truth import expression
from search.cli import main
from tests.codes_support import decode


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "s"
    simulate(out, 6000, seed=11, test_rows=200)
    return out


def table(path: Path) -> dict[str, np.ndarray]:
    meta = open_dataset(path)
    t = pa.concat_tables([pq.read_table(p) for p in meta.shard_paths(path)])
    return {c: np.array(t[c].to_pylist()) for c in t.column_names}


def test_deterministic_for_a_seed(sim: Path, tmp_path: Path):
    simulate(tmp_path / "again", 6000, seed=11, test_rows=200, shard_rows=2500)
    simulate(tmp_path / "other", 6000, seed=12, test_rows=200)
    a, b, c = table(sim), table(tmp_path / "again"), table(tmp_path / "other")
    assert np.array_equal(a["sequence"], b["sequence"])  # independent of shard size
    assert np.array_equal(a["expression"], b["expression"])
    assert not np.array_equal(a["sequence"], c["sequence"])
    assert open_dataset(tmp_path / "again").plasmid == open_dataset(sim).plasmid
    for name in (SUITE_FILE, PAIRS_FILE):
        assert (sim / SUITE_DIR / name).read_bytes() == \
            (tmp_path / "again" / SUITE_DIR / name).read_bytes()


def test_sequences_look_like_dream(sim: Path):
    t = table(sim)
    lengths = np.array([len(s) for s in t["sequence"]])
    assert lengths.min() >= 102 and lengths.max() <= 111
    assert 0.75 < np.mean(lengths == 110) < 0.9
    assert all(s.startswith(LEFT_ADAPTER) and s.endswith(RIGHT_ADAPTER) for s in t["sequence"])
    assert set("".join(t["sequence"][:200])) == set("ACGT")
    meta = open_dataset(sim)
    assert meta.columns == ["sequence", "expression", "fold", "is_singleton", "true_expression"]
    assert meta.rows["total"] == 6000


def test_labels_track_truth_as_documented(sim: Path):
    t = table(sim)
    y, e, single = t["expression"], t["true_expression"], t["is_singleton"].astype(bool)
    assert np.array_equal(single, y == np.round(y))
    assert 0.54 < single.mean() < 0.62
    assert y.min() >= 0 and y.max() <= 17
    assert 10.5 < y.mean() < 11.7 and 1.9 < y.std() < 2.7
    r = np.corrcoef(y, e)[0, 1]
    assert 0.77 < r < 0.87  # documented ~0.82
    assert np.corrcoef(y[~single], e[~single])[0, 1] > np.corrcoef(y[single], e[single])[0, 1]
    codes = np.array([[("ACGT".index(c)) for c in s.ljust(111, "A")] for s in t["sequence"][:50]])
    lengths = np.array([len(s) for s in t["sequence"][:50]])
    assert np.allclose(expression(codes.astype(np.uint8), lengths), e[:50], atol=1e-4)


def test_test_suite_is_written_in_the_suite_format(sim: Path):
    suite = read_suite(sim / SUITE_DIR / SUITE_FILE, pairs=sim / SUITE_DIR / PAIRS_FILE)
    truth = read_suite(sim / SUITE_DIR / SUITE_FILE, measure="true_expression").measured
    assert {k: len(v) for k, v in suite.members.items()} == {
        "all": 1000, "random": 200, "high": 200, "low": 200, "snv": 200,
        "motif_perturbation": 200}
    assert np.corrcoef(suite.measured, truth)[0, 1] > 0.98
    e = {name: truth[idx] for name, idx in suite.members.items()}
    assert e["high"].min() > np.median(e["random"]) > e["low"].max()
    seqs = suite.sequences.to_pylist()
    assert set(suite.pairs) == {"snv", "motif_perturbation"}
    for name, n_diff in (("snv", 1), ("motif_perturbation", 3)):
        ref, alt = suite.pairs[name]
        assert len(ref) == 100 and set(ref) | set(alt) == set(suite.members[name])
        for i, j in zip(ref, alt, strict=True):
            a, b = seqs[i], seqs[j]
            diff = [k for k in range(len(a)) if a[k] != b[k]]
            assert len(diff) == n_diff and 17 <= min(diff) and max(diff) < len(a) - 13
    ref, alt = suite.pairs["motif_perturbation"]
    assert (truth[ref] - truth[alt]).mean() > 0.3  # Reb1/Hsf1 sites activate


def test_plasmid_flanks_work_with_encodings(sim: Path):
    plasmid = open_dataset(sim).plasmid
    assert plasmid["left_flank"].endswith(LEFT_ADAPTER) and len(plasmid["left_flank"]) == 500
    assert plasmid["right_flank"].startswith(RIGHT_ADAPTER)
    seq = table(sim)["sequence"][0]
    out = decode(plasmid_pad([seq], plasmid["left_flank"]))[0]
    assert out == plasmid["left_flank"][-(150 - len(seq) + 17):] + seq[17:]


def test_pwm_from_iupac():
    m = pwm("TTACCCGG")
    assert m.shape == (8, 4)
    assert m.max(axis=1).sum() == pytest.approx(8 * np.log2(0.9 / 0.25), rel=1e-5)
    assert np.allclose(pwm("N"), 0)
    r = pwm("RY")
    assert np.allclose(r[0], np.log2(np.array([0.45, 0.05, 0.45, 0.05]) / 0.25))
    assert np.array_equal(reverse_pwm(pwm("AAC")), pwm("GTT"))
    assert {"Reb1", "Abf1", "Rap1", "Gcn4", "Msn2", "Hsf1", "Skn7", "Mga1", "Ume6", "Mot3",
            "Azf1", "polyA"} == set(MOTIFS)


def test_cli_simulate(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "s"
    assert main(["data", "simulate", "--rows", "500", "--out", str(out), "--seed", "1",
                 "--test-rows", "20", "--shard-rows", "200"]) == 0
    assert "wrote 500 rows" in capsys.readouterr().out
    assert len(open_dataset(out).shards) == 3
    assert main(["data", "simulate", "--rows", "500", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
