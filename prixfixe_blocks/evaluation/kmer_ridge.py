"""The k-mer ridge baseline: a linear model on 1- to 6-mer counts (5460 features).

Every evaluation scores it beside the model, so each figure answers "better than a linear
k-mer model?". Fit: features standardised (mean 0, sd 1 over the fitting rows), ridge on the
normal equations (X^T X from `kmers.KmerStats`, never the dense design matrix). The penalty is
chosen on a hold-out (a hash fold of the training rows) from ALPHA_GRID, in units of the
feature count; then the model is refitted on all rows with the chosen penalty.

Solving: one Cholesky factorisation of the fitting rows' system at DEFAULT_ALPHA;
every other penalty, and the refit on all rows, is solved by conjugate gradients
preconditioned with that factor (a few tens of O(p^2) iterations each, where a fresh
factorisation costs O(p^3)). A refit that does not converge falls back to its own
factorisation. The linear algebra runs in torch (float64): numpy has no triangular solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

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

    a: torch.Tensor
    b: torch.Tensor
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
        return cls(torch.from_numpy(gram), torch.from_numpy(b), mean, scale, ymean)

    def shifted(self, alpha: float) -> torch.Tensor:
        """a + alpha I (a copy)."""
        out = self.a.clone()
        out.diagonal().add_(alpha)
        return out

    def model(self, w: torch.Tensor, targets: tuple[str, ...], alpha: float, score: float,
              n_rows: int) -> KmerRidge:
        raw = w.numpy() / self.scale[:, None]
        weights = np.vstack([raw, np.zeros((1, raw.shape[1]))])
        return KmerRidge(weights, self.ymean - self.mean @ raw, targets, alpha, score, n_rows)


def _pcg(system: _System, alpha: float, chol: torch.Tensor, x0: torch.Tensor | None = None
         ) -> tuple[torch.Tensor, bool]:
    """Solve (a + alpha I) x = b by conjugate gradients preconditioned with the Cholesky
    factor `chol` of a nearby system; returns (x, converged)."""
    a, b = system.a, system.b
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - (a @ x + alpha * x)
    z = _chol_solve(chol, r)
    p, rz = z.clone(), (r * z).sum(0)
    bnorm = b.norm(dim=0).clamp_min(1e-300)
    for _ in range(CG_MAX_ITER):
        if bool(((r.norm(dim=0) / bnorm) < CG_TOL).all()):
            return x, True
        q = a @ p + alpha * p
        step = rz / (p * q).sum(0).clamp_min(1e-300)
        x, r = x + step * p, r - step * q
        z = _chol_solve(chol, r)
        rz_next = (r * z).sum(0)
        p, rz = z + (rz_next / rz.clamp_min(1e-300)) * p, rz_next
    return x, bool(((r.norm(dim=0) / bnorm) < CG_TOL).all())


def _factor(system: _System, alpha: float) -> torch.Tensor:
    """Lower Cholesky factor of a + alpha I."""
    return torch.linalg.cholesky(system.shifted(alpha))


def _chol_solve(chol: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x with L L^T x = b (two triangular solves: ~10x faster than torch.cholesky_solve on a
    row-major factor, which copies it)."""
    half = torch.linalg.solve_triangular(chol, b, upper=False)
    return torch.linalg.solve_triangular(chol.mT, half, upper=True)


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
        w = _chol_solve(_factor(full, DEFAULT_ALPHA * N_FEATURES), full.b)
        return full.model(w, targets, DEFAULT_ALPHA, float("nan"), len(y))
    system = _System.of(fit_part)
    chol = _factor(system, DEFAULT_ALPHA * N_FEATURES)
    scores = {}
    w = None
    for lam in sorted(grid, reverse=True):
        w, _ = _pcg(system, lam * N_FEATURES, chol, w)
        pred = system.model(w, targets, lam, 0.0, fit_part.n).predict_codes(codes[holdout])
        scores[lam] = float(np.mean([pearson(pred[:, t], y[holdout, t])
                                     for t in range(y.shape[1])]))
    best = max(grid, key=lambda lam: scores[lam])
    del system  # its 5460^2 matrix, before the refit builds another
    full = _System.of(fit_part.merged(held))
    w, ok = _pcg(full, best * N_FEATURES, chol)
    if not ok:
        w = _chol_solve(_factor(full, best * N_FEATURES), full.b)
    return full.model(w, targets, best, scores[best], len(y))

