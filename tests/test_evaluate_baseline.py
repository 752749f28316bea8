"""The k-mer ridge baseline: exact k-mer statistics, the same fit as scikit-learn's Ridge, a
planted signal recovered, the rows used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation import baseline, kmers
from prixfixe_blocks.evaluation.baseline import fit_baseline
from prixfixe_blocks.evaluation.kmer_ridge import ALPHA_GRID, DEFAULT_ALPHA, fit_kmer_ridge
from prixfixe_blocks.evaluation.kmers import N_FEATURES, OFFSETS, KmerStats, count_matrix, encode
from prixfixe_blocks.training.metrics import pearson
from tests.evaluate_support import split_dataset
from tests.train_support import make_dream_dataset


def naive_counts(seq: str) -> np.ndarray:
    """Counts of every 1- to 6-mer without N, by the definition."""
    out = np.zeros(N_FEATURES)
    for k in range(1, 7):
        for j in range(len(seq) - k + 1):
            word = seq[j: j + k]
            if "N" not in word:
                out[OFFSETS[k - 1] + int(word.translate(str.maketrans("ACGT", "0123")), 4)] += 1
    return out


@pytest.mark.parametrize("max_row_pairs", [kmers.MAX_ROW_PAIRS, 0])  # pair counts, products
def test_kmer_statistics_equal_the_dense_products(max_row_pairs: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kmers, "MAX_ROW_PAIRS", max_row_pairs)
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.24] * 4 + [0.04], size=n))
            for n in rng.integers(2, 40, size=60)]
    x = count_matrix(encode(seqs))
    assert np.array_equal(x, np.stack([naive_counts(s) for s in seqs]))
    y = rng.standard_normal((60, 2))
    stats = KmerStats(2)
    stats.add(encode(seqs[:25]), y[:25])
    rest = KmerStats(2)
    rest.add(encode(seqs[25:]), y[25:])
    both = stats.merged(rest)
    assert both.n == 60
    assert np.array_equal(both.gram(), x.T @ x)  # the prefix decomposition is exact
    assert np.allclose(both.sums, x.sum(axis=0)) and np.allclose(both.xty, x.T @ y)


def sklearn_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> object:
    """The baseline's model by the textbook: standardised features, intercept, ridge."""
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha * N_FEATURES)).fit(x, y)


def test_ridge_equals_sklearn_ridge_with_the_penalty_chosen_on_the_holdout() -> None:
    rng = np.random.default_rng(7)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.245] * 4 + [0.02], size=n))
            for n in rng.integers(30, 60, size=300)]
    x = count_matrix(encode(seqs))
    y = np.c_[x[:, :20] @ rng.standard_normal(20), x[:, 100:120] @ rng.standard_normal(20)]
    y += rng.standard_normal(y.shape)
    hold = rng.random(300) < 0.25
    model = fit_kmer_ridge(seqs, y, hold, ("a", "b"))
    scores = {}
    for lam in ALPHA_GRID:
        pred = sklearn_ridge(x[~hold], y[~hold], lam).predict(x[hold])
        scores[lam] = np.mean([pearson(pred[:, t], y[hold, t]) for t in range(2)])
    assert model.alpha == max(ALPHA_GRID, key=lambda lam: scores[lam])
    assert model.holdout_pearson == pytest.approx(scores[model.alpha], abs=1e-6)
    want = sklearn_ridge(x, y, model.alpha).predict(x)  # refitted on every row
    np.testing.assert_allclose(model.predict(seqs), want, rtol=1e-6, atol=1e-5 * want.std())
    assert model.n_rows == 300 and model.targets == ("a", "b")
    few = fit_kmer_ridge(seqs[:100], y[:100, 0], np.zeros(100, bool))  # no hold-out rows
    assert few.alpha == DEFAULT_ALPHA and np.isnan(few.holdout_pearson)
    np.testing.assert_allclose(few.predict(seqs[:100])[:, 0],
                               sklearn_ridge(x[:100], y[:100, 0], DEFAULT_ALPHA).predict(x[:100]),
                               rtol=1e-6, atol=1e-9)


def test_ridge_recovers_a_planted_kmer_signal() -> None:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=80)) for _ in range(4000)]
    weights = np.zeros(N_FEATURES)
    weights[: OFFSETS[3]] = rng.standard_normal(OFFSETS[3])  # every 1- to 3-mer
    weights[rng.choice(np.arange(OFFSETS[5], OFFSETS[6]), 30, replace=False)] = \
        3 * rng.standard_normal(30)  # and 30 6-mers
    signal = count_matrix(encode(seqs)) @ weights
    y = signal + rng.standard_normal(len(seqs)) * 0.3 * signal.std()
    model = fit_kmer_ridge(seqs[:3000], y[:3000], rng.random(3000) < 0.1)
    pred = model.predict(seqs[3000:])[:, 0]
    assert pearson(pred, y[3000:]) > 0.9  # the ceiling (signal vs y) is ~0.95
    assert pearson(pred, signal[3000:]) > 0.95
    assert np.isfinite(model.holdout_pearson) and model.n_rows == 3000


def test_baseline_fits_the_train_split_or_the_non_validation_folds(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    split = split_dataset(tmp_path / "split", 1200)
    meta = open_dataset(split)
    base = fit_baseline(str(split), meta.targets, val_folds=(5,))  # one real fit
    assert base.rows == base.available == meta.splits["train"]  # never val or test rows
    assert meta.splits["train"] == 1200 - meta.fold_rows[0] - meta.fold_rows[1]
    assert base.model.predict(["ACGT" * 25]).shape == (1, 1)

    # The rows themselves, on the real DREAM sample: the ridge's solve is recorded, not run
    # (the solve is checked against scikit-learn above).
    fitted: list[tuple[list[str], np.ndarray]] = []

    def record(sequences: Any, y: np.ndarray, holdout: np.ndarray, targets: Any) -> Any:
        fitted.append((sequences.to_pylist(), holdout))
        return base.model

    monkeypatch.setattr(baseline, "fit_kmer_ridge", record)
    dream = make_dream_dataset(shared_data, tmp_path / "dream", rows=1500, folds=5)
    meta = open_dataset(dream)
    table = pa.concat_tables(pq.read_table(p) for p in meta.shard_paths(dream))
    fold = dict(zip(table.column("sequence").to_pylist(), table.column("fold").to_pylist(),
                    strict=True))
    base = fit_baseline(str(dream), ["expression"], val_folds=(0, 1))
    assert base.rows == base.available == 1500 - meta.fold_rows[0] - meta.fold_rows[1]
    seqs, holdout = fitted[-1]
    assert len(seqs) == base.rows and {fold[s] for s in seqs} == {2, 3, 4}  # folds 0, 1 left out
    picks = {fold[s] for s, h in zip(seqs, holdout, strict=True) if h}
    assert picks == {2}  # the penalty is chosen on the lowest training fold
    sub = fit_baseline(str(dream), ["expression"], max_rows=400)
    assert sub.available == 1500 - meta.fold_rows[0] and 300 < sub.rows < 500
    assert len(fitted[-1][0]) == sub.rows and 0 not in {fold[s] for s in fitted[-1][0]}
    assert f"{sub.rows:,} of {sub.available:,} training rows (random)" in sub.describe()
    with pytest.raises(ConfigError, match="no column activity"):
        fit_baseline(str(dream), ["activity"])
