"""Validation metrics: Pearson r and Spearman rho (scipy.stats), MSE; per target and averaged.

Torch-free on purpose: `search/replay_table.py` imports `BEST_METRIC` from here in actors that
must start fast.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

BEST_METRIC = "best_val_pearson"  # the best validation Pearson so far: what searches maximise


def _undefined(x: np.ndarray, y: np.ndarray) -> bool:
    """A correlation of these is undefined: fewer than 2 values, or either side constant."""
    return len(x) < 2 or bool(np.ptp(x) == 0) or bool(np.ptp(y) == 0)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays (0.0 when either is constant; nan with a nan)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return 0.0 if _undefined(x, y) else float(stats.pearsonr(x, y).statistic)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation, ties given their average rank (0.0 when either is constant)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return 0.0 if _undefined(x, y) else float(stats.spearmanr(x, y).statistic)


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
