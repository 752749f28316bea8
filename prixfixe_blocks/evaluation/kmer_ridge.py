"""The k-mer ridge baseline: a linear model on 1- to 6-mer counts (5460 features).

Every evaluation scores it beside the model, so each figure answers "better than a linear
k-mer model?". Fit: features standardised (mean 0, sd 1 over the fitting rows), ridge on the
normal equations (X^T X from `kmers.KmerStats`, never the dense design matrix). The penalty is
chosen on a hold-out (a hash fold of the training rows) from ALPHA_GRID, in units of the
feature count; then the model is refitted on all rows with the chosen penalty.

Solving (scipy, float64): one Cholesky factorisation (scipy.linalg.cho_factor) of the fitting
rows' system at DEFAULT_ALPHA; every penalty of the grid, and the refit on all rows, is solved
by conjugate gradients (scipy.sparse.linalg.cg) preconditioned with that factor: a few tens of
O(p^2) iterations each, where a factorisation costs O(p^3) and an eigendecomposition (one for
the whole grid) about 12 factorisations (measured: 282 s vs 23 s for p = 5460 on the 2-core
machine). A refit that does not converge falls back to its own factorisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.linalg
from scipy.sparse.linalg import LinearOperator, cg

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.kmers import (
    CHUNK_ROWS,
    N_FEATURES,
    KmerStats,
    encode,
    occurrences,
)
from prixfixe_blocks.training.metrics import pearson

# Penalties tried, times N_FEATURES (on standardised features). DEFAULT_ALPHA is used without a
# hold-out and factorised for the preconditioner; it won on the DREAM sample (hold-out r 0.63 vs
# 0.60 at 1 and 16) and on 30k simulated rows (0.482 vs 0.478 at 1 and 0.467 at 16).
ALPHA_GRID = (1 / 16, 1 / 4, 1.0, 4.0, 16.0, 64.0)
DEFAULT_ALPHA = 4.0
MIN_HOLDOUT = 20  # fewer hold-out rows than this: no selection, the default penalty
CG_TOL = 1e-7  # relative residual at which conjugate gradients stop
CG_MAX_ITER = 300


@dataclass(frozen=True)
class KmerRidge:
    """A fitted baseline: weights on raw k-mer counts (one column per target) and a bias."""

    weights: np.ndarray  # (N_FEATURES + 1, n_targets); the last row (no k-mer) is zero
    bias: np.ndarray  # (n_targets,)
    targets: tuple[str, ...]
    alpha: float  # the chosen penalty, times N_FEATURES
    holdout_pearson: float  # mean over targets at the chosen penalty (nan: no selection)
    n_rows: int

    def predict(self, sequences: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
        """float64 (N, n_targets) predictions."""
        return self.predict_codes(encode(sequences))

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """Predictions from uint8 codes (B, L) as `kmers.encode` makes them."""
        parts = [self.weights[occurrences(codes[i: i + CHUNK_ROWS])].sum(axis=1)
                 for i in range(0, len(codes), CHUNK_ROWS)]
        out = np.concatenate(parts) if parts else np.zeros((0, len(self.targets)))
        return out + self.bias


@dataclass(frozen=True)
class _System:
    """Standardised normal equations: (a + alpha I) w = b, plus what maps w back to counts."""

    a: np.ndarray
    b: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    ymean: np.ndarray

    @classmethod
    def of(cls, stats: KmerStats) -> _System:
        n = stats.n
        mean, ymean = stats.sums / n, stats.ysum / n
        gram = stats.gram()
        var = np.diag(gram) / n - mean**2
        scale = np.where(var > 1e-12, np.sqrt(np.maximum(var, 0.0)), 1.0)
        gram -= n * np.outer(mean, mean)
        gram /= scale[:, None]
        gram /= scale[None, :]
        b = (stats.xty - n * np.outer(mean, ymean)) / scale[:, None]
        return cls(gram, b, mean, scale, ymean)

    def factor(self, alpha: float) -> tuple[np.ndarray, bool]:
        """The Cholesky factor of a + alpha I (scipy.linalg.cho_factor form)."""
        shifted = self.a.copy()
        shifted[np.diag_indices_from(shifted)] += alpha
        return scipy.linalg.cho_factor(shifted, overwrite_a=True, check_finite=False)

    def exact(self, alpha: float) -> np.ndarray:
        """w with (a + alpha I) w = b by its own factorisation."""
        return scipy.linalg.cho_solve(self.factor(alpha), self.b, check_finite=False)

    def solve(self, alpha: float, factor: tuple[np.ndarray, bool],
              start: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        """w with (a + alpha I) w = b by conjugate gradients preconditioned with the Cholesky
        `factor` of a nearby system, from `start`; (w, converged)."""
        size = len(self.a)
        system = LinearOperator((size, size), matvec=lambda v: self.a @ v + alpha * v,
                                dtype=np.float64)
        inverse = LinearOperator(
            (size, size), matvec=lambda r: scipy.linalg.cho_solve(factor, r, check_finite=False),
            dtype=np.float64)
        w, converged = np.zeros_like(self.b), True
        for t in range(self.b.shape[1]):
            w[:, t], info = cg(system, self.b[:, t], None if start is None else start[:, t],
                               rtol=CG_TOL, maxiter=CG_MAX_ITER, M=inverse)
            converged = converged and info == 0
        return w, converged

    def model(self, w: np.ndarray, targets: tuple[str, ...], alpha: float, score: float,
              n_rows: int) -> KmerRidge:
        raw = w / self.scale[:, None]
        weights = np.vstack([raw, np.zeros((1, raw.shape[1]))])
        return KmerRidge(weights, self.ymean - self.mean @ raw, targets, alpha, score, n_rows)


def fit_kmer_ridge(sequences: pa.Array | pa.ChunkedArray | list[str], y: np.ndarray,
                   holdout: np.ndarray, targets: tuple[str, ...] = ("y",),
                   grid: tuple[float, ...] = ALPHA_GRID) -> KmerRidge:
    """Fit on all rows with the penalty that scores best (mean Pearson over targets) on the
    `holdout` rows when fitted on the others. `y` is (N,) or (N, n_targets)."""
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    holdout = np.asarray(holdout, bool)
    if len(y) < 2:
        raise ConfigError(f"the k-mer ridge baseline needs at least 2 rows, got {len(y)}")
    codes = encode(sequences)
    fit_part, held = KmerStats(y.shape[1]), KmerStats(y.shape[1])
    fit_part.add(codes[~holdout], y[~holdout])
    held.add(codes[holdout], y[holdout])
    if held.n < MIN_HOLDOUT or fit_part.n < 2:
        full = _System.of(fit_part.merged(held))
        w = full.exact(DEFAULT_ALPHA * N_FEATURES)
        return full.model(w, targets, DEFAULT_ALPHA, float("nan"), len(y))
    system = _System.of(fit_part)
    factor = system.factor(DEFAULT_ALPHA * N_FEATURES)
    scores, w = {}, None
    for lam in sorted(grid, reverse=True):
        w, _ = system.solve(lam * N_FEATURES, factor, w)
        pred = system.model(w, targets, lam, 0.0, fit_part.n).predict_codes(codes[holdout])
        scores[lam] = float(np.mean([pearson(pred[:, t], y[holdout, t])
                                     for t in range(y.shape[1])]))
    best = max(grid, key=lambda lam: scores[lam])
    del system  # its 5460^2 matrix, before the refit builds another
    full = _System.of(fit_part.merged(held))
    w, converged = full.solve(best * N_FEATURES, factor)
    if not converged:
        w = full.exact(best * N_FEATURES)
    return full.model(w, targets, best, scores[best], len(y))
