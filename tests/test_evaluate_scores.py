"""Suite parsing and DREAM scoring: a hand-computed example, pair differences, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prixfixe_blocks.data.format.suite_tsv import read_suite
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.evaluation.dream_score import DREAM_WEIGHTS, dream_score, score_suite

SEQ = {  # eight distinct sequences
    "S1": "ACGTACGTAC", "S2": "TTGACCAGTA", "S3": "GGGCATTACA", "S4": "CATCATCATG",
    "S5": "AAAACCCCGG", "S6": "TGCATGCATG", "S7": "GATTACAGAT", "S8": "CCGGTTAACC",
}
# S8 is listed twice (the second time in lower case): its measurement is the mean, 2.5. Naming
# `all` (S1) changes nothing: every row is in it.
SUITE_ROWS = [("S1", "5.0", "high,random,all"), ("S2", "4.0", "high"), ("S3", "6.5", "high"),
              ("S4", "1.0", "low,random"), ("S5", "0.5", "low"), ("S6", "2.0", "low, custom"),
              ("S7", "3.0", "random,custom"), ("S8", "1.0", "random"), ("s8", "4.0", "random")]
MEASURED = {"S1": 5.0, "S2": 4.0, "S3": 6.5, "S4": 1.0, "S5": 0.5, "S6": 2.0, "S7": 3.0,
            "S8": 2.5}
PRED = {"S1": 4.0, "S2": 4.5, "S3": 6.0, "S4": 1.5, "S5": 0.0, "S6": 2.5, "S7": 2.0, "S8": 3.5}
# S1 is the reference of three SNV pairs; S6 and S7 are each in two motif pairs.
PAIRS = [("snv", "S1", "S2"), ("snv", "S1", "S3"), ("snv", "S1", "S4"),
         ("motif_perturbation", "S5", "S6"), ("motif_perturbation", "S7", "S8"),
         ("motif_perturbation", "S6", "S7")]


def write_suite(tmp: Path, rows=SUITE_ROWS, header="sequence\texpression\tsubset") -> Path:
    path = tmp / "suite.tsv"
    body = [f"{SEQ[k.upper()].lower() if k.islower() else SEQ[k]}\t{v}\t{s}" for k, v, s in rows]
    path.write_text("\n".join([header, *body]) + "\n")
    return path


def write_pairs(tmp: Path, pairs=PAIRS) -> Path:
    path = tmp / "pairs.tsv"
    path.write_text("\n".join(["subset\tref\talt", *(f"{s}\t{SEQ[r]}\t{SEQ[a]}"
                                                     for s, r, a in pairs)]) + "\n")
    return path


def ranks(x: list[float]) -> np.ndarray:  # no ties in this example
    return np.argsort(np.argsort(x)).astype(float)


def r_rho(pred: list[float], meas: list[float]) -> tuple[float, float]:
    return (float(np.corrcoef(pred, meas)[0, 1]),
            float(np.corrcoef(ranks(pred), ranks(meas))[0, 1]))


def predictions(suite) -> np.ndarray:
    by_seq = {SEQ[k]: v for k, v in PRED.items()}
    return np.array([by_seq[s] for s in suite.sequences.to_pylist()])


def expected_subsets() -> dict[str, tuple[float, float, int]]:
    groups = {"all": list(SEQ), "high": ["S1", "S2", "S3"], "low": ["S4", "S5", "S6"],
              "random": ["S1", "S4", "S7", "S8"], "custom": ["S6", "S7"]}
    out = {name: (*r_rho([PRED[k] for k in keys], [MEASURED[k] for k in keys]), len(keys))
           for name, keys in groups.items()}
    for name in ("snv", "motif_perturbation"):
        pairs = [(r, a) for s, r, a in PAIRS if s == name]
        dp = [PRED[a] - PRED[r] for r, a in pairs]
        dm = [MEASURED[a] - MEASURED[r] for r, a in pairs]
        out[name] = (*r_rho(dp, dm), len(pairs))
    return out


def test_suite_parsing_means_duplicates_and_maps_pairs(tmp_path: Path) -> None:
    suite = read_suite(write_suite(tmp_path), pairs=write_pairs(tmp_path))
    assert suite.n_rows == 9 and len(suite.sequences) == 8
    seqs = suite.sequences.to_pylist()
    assert suite.measured[seqs.index(SEQ["S8"])] == pytest.approx(2.5)
    assert sorted(seqs[i] for i in suite.members["custom"]) == sorted([SEQ["S6"], SEQ["S7"]])
    ref, alt = suite.pairs["snv"]
    assert [seqs[i] for i in ref] == [SEQ["S1"]] * 3
    assert [seqs[i] for i in alt] == [SEQ["S2"], SEQ["S3"], SEQ["S4"]]


def test_pair_subsets_are_scored_on_differences(tmp_path: Path) -> None:
    suite = read_suite(write_suite(tmp_path), pairs=write_pairs(tmp_path))
    scores = score_suite(predictions(suite), suite)
    # by hand: SNV differences (alt - ref) measured -1, 1.5, -4 vs predicted 0.5, 2.0, -2.5
    dm, dp = np.array([-1.0, 1.5, -4.0]), np.array([0.5, 2.0, -2.5])
    assert scores["snv"].pairs and scores["snv"].n == 3
    assert scores["snv"].pearson == pytest.approx(np.corrcoef(dp, dm)[0, 1])
    assert scores["snv"].spearman == pytest.approx(1.0)
    # motif pairs: measured 1.5, -0.5, 1.0 vs predicted 2.5, 1.5, -0.5: ranks 3,1,2 vs 3,2,1
    assert scores["motif_perturbation"].spearman == pytest.approx(0.5)
    assert not scores["all"].pairs and scores["all"].n == 8


def test_dream_scores_match_the_hand_computed_formula(tmp_path: Path) -> None:
    suite = read_suite(write_suite(tmp_path), pairs=write_pairs(tmp_path))
    scores = score_suite(predictions(suite), suite)
    want = expected_subsets()
    for name, (r, rho, n) in want.items():
        assert (scores[name].pearson, scores[name].spearman, scores[name].n) == \
            (pytest.approx(r), pytest.approx(rho), n), name
    dream = dream_score(scores)
    weights = {"all": 1.0, "high": 0.3, "low": 0.3, "random": 0.3, "snv": 1.25,
               "motif_perturbation": 0.3}  # "custom" is not a DREAM subset
    total = sum(weights.values())
    assert total == pytest.approx(3.45) and sum(dream.weights.values()) == pytest.approx(total)
    assert dream.pearson == pytest.approx(
        sum(w * want[k][0] ** 2 for k, w in weights.items()) / total)
    assert dream.spearman == pytest.approx(sum(w * want[k][1] for k, w in weights.items()) / total)
    assert dream.missing == ("yeast", "challenging", "motif_tiling")
    assert "renormalised" in dream.note and "3.45 of 4.65" in dream.note


def test_all_nine_subsets_use_the_published_weights() -> None:
    from prixfixe_blocks.evaluation.dream_score import SubsetScore

    subsets = {name: SubsetScore(0.5, 0.4, 10, name in ("snv", "motif_perturbation",
                                                        "motif_tiling"))
               for name in DREAM_WEIGHTS}
    dream = dream_score(subsets)
    assert sum(DREAM_WEIGHTS.values()) == pytest.approx(4.65)
    assert (dream.pearson, dream.spearman, dream.note) == (pytest.approx(0.25),
                                                           pytest.approx(0.4), "")


def test_pair_subset_without_pairs_is_not_counted(tmp_path: Path) -> None:
    rows = [(k, v, "SNVs" if k == "S2" else s) for k, v, s in SUITE_ROWS]
    suite = read_suite(write_suite(tmp_path, rows))
    scores = score_suite(predictions(suite), suite)
    dream = dream_score(scores)
    assert not scores["SNVs"].pairs and "SNVs" not in dream.weights
    assert "snv" in dream.missing and "--pairs" in dream.note
    assert sum(dream.weights.values()) == pytest.approx(1.9)  # all, high, low, random


@pytest.mark.parametrize("rows, header, line, field, message", [
    ([("S1", "5.0", "high"), ("S2", "4.0", "high")], "sequence\texpression\tgroup", 1,
     "subset", "missing column"),
    ([("S1", "5.0", "high"), ("S2", "abc", "high")], None, 3, "expression",
     "not a finite number: 'abc'"),
    ([("S1", "5.0", "high"), ("S2", "4.0", " , ")], None, 3, "subset", "no subset name"),
])
def test_bad_suite_names_file_line_and_field(tmp_path: Path, rows, header, line, field,
                                             message) -> None:
    path = write_suite(tmp_path, rows, header or "sequence\texpression\tsubset")
    with pytest.raises(DataError) as err:
        read_suite(path)
    text = str(err.value)
    assert str(path) in text and f"line {line}" in text and f"field '{field}'" in text, text
    assert message in text


def test_bad_bases_and_foreign_pairs_are_reported(tmp_path: Path) -> None:
    path = write_suite(tmp_path)
    text = path.read_text().replace(SEQ["S3"], "GGGCAXTACA")
    path.write_text(text)
    with pytest.raises(DataError, match=r"line 4, field 'sequence': invalid base 'X' at "
                                        r"position 6"):
        read_suite(path)
    good = write_suite(tmp_path)
    pairs = write_pairs(tmp_path, PAIRS[:2])
    pairs.write_text(pairs.read_text() + f"snv\t{SEQ['S1']}\tACGTTTTT\n")
    with pytest.raises(DataError) as err:
        read_suite(good, pairs=pairs)
    assert f"{pairs}, line 4, field 'alt': sequence not in the suite {good}" in str(err.value)
    short = tmp_path / "short.tsv"
    short.write_text("sequence\texpression\tsubset\nACGT\t1.0\n")
    with pytest.raises(DataError, match="line 2: expected 3 tab-separated fields, got 2"):
        read_suite(short)
