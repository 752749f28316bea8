"""Validation metrics: Pearson r and Spearman rho, MSE; per target and averaged.

NumPy only, on purpose: every trial process imports this, and `scipy.stats` alone costs about
0.8 CPU-seconds per process to import (the same sums as `scipy.stats.pearsonr` / `spearmanr`,
which the tests compare against). Torch-free too: `search/replay_table.py` imports
`BEST_METRIC` from here in actors that must start fast.
"""

from __future__ import annotations

import numpy as np

BEST_METRIC = "best_val_pearson"  # the best validation Pearson so far: what searches maximise


def _any_nan(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.isnan(x).any() or np.isnan(y).any())


def _undefined(x: np.ndarray, y: np.ndarray) -> bool:
    """A correlation of these is undefined: fewer than 2 values, or either side constant."""
    return len(x) < 2 or bool(np.ptp(x) == 0) or bool(np.ptp(y) == 0)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays (0.0 when either is constant; nan with a nan)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if _any_nan(x, y):
        return float("nan")
    if _undefined(x, y):
        return 0.0
    dx, dy = x - x.mean(), y - y.mean()
    r = float((dx / np.linalg.norm(dx)) @ (dy / np.linalg.norm(dy)))  # scaled first: no overflow
    return max(-1.0, min(1.0, r))  # rounding can step just past +-1


def average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, tied values sharing their average rank
    (`scipy.stats.rankdata(method="average")`)."""
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the last rank of each distinct value
    return (ends - (counts - 1) / 2.0)[inverse.ravel()]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation, ties given their average rank (0.0 when either is constant)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if _any_nan(x, y):  # ranks would place a nan last instead of propagating it
        return float("nan")
    return pearson(average_ranks(x), average_ranks(y))  # constant ranks: pearson's 0.0


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
