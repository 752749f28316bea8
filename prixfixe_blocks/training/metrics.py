"""Validation metrics in numpy (no scipy): Pearson r, Spearman rho (tie-averaged ranks), MSE."""

from __future__ import annotations

import numpy as np

BEST_METRIC = "best_val_pearson"  # the best validation Pearson so far: what searches maximise


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays (0.0 when either is constant)."""
    x = np.asarray(x, np.float64) - np.mean(x)
    y = np.asarray(y, np.float64) - np.mean(y)
    denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.dot(x, y) / denom) if denom > 0 else 0.0


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (like scipy.stats.rankdata)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    counts = np.diff(np.r_[starts, len(values)])
    avg = starts + (counts + 1) / 2.0
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(avg, counts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation: Pearson on tie-averaged ranks."""
    return pearson(rankdata(x), rankdata(y))


def regression_metrics(pred: np.ndarray, true: np.ndarray, prefix: str = "val_"
                       ) -> dict[str, float]:
    """Pearson / Spearman / MSE averaged over targets (columns), plus per-target values when
    there are several (`val_pearson_<i>`)."""
    pred, true = np.atleast_2d(pred.T).T, np.atleast_2d(true.T).T
    per = [
        (pearson(pred[:, j], true[:, j]), spearman(pred[:, j], true[:, j]),
         float(np.mean((pred[:, j] - true[:, j]) ** 2)))
        for j in range(true.shape[1])
    ]
    out = {f"{prefix}{name}": float(np.mean([p[i] for p in per]))
           for i, name in enumerate(("pearson", "spearman", "mse"))}
    if len(per) > 1:
        for j, (r, rho, mse) in enumerate(per):
            out.update({f"{prefix}pearson_{j}": r, f"{prefix}spearman_{j}": rho,
                        f"{prefix}mse_{j}": mse})
    return out
