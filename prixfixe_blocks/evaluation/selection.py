"""Ensemble selection (Caruana et al., 2004): greedy forward selection with replacement.

Given each candidate's predictions on validation rows, the ensemble starts empty and each round
adds the candidate (again, possibly) whose addition gives the best score of the mean prediction.
After a fixed number of rounds the best ensemble seen in any round is kept, so the result never
scores below the best single candidate (round 1 picks it). A candidate picked n times has
integer weight n; the ensemble predicts sum(w_i * p_i) / sum(w_i). Score: Pearson r per target
(column), averaged. Plain numpy, so refit and the tests use it without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.training.metrics import pearson

DEFAULT_ROUNDS = 25  # Caruana et al. found tens of rounds enough; more rarely changes the pick
TIE = 1e-9  # a round must beat the best so far by more than this (rounding is not a gain)


@dataclass(frozen=True)
class Selection:
    """The chosen ensemble: candidate name -> integer weight (chosen ones only), its score on
    the validation rows, each candidate's own score, and the score after every round."""

    weights: dict[str, int]
    score: float
    single: dict[str, float]
    history: tuple[float, ...]

    @property
    def best_single(self) -> str:
        """The candidate that scores best alone (the first such, in input order)."""
        finite = [name for name, score in self.single.items() if np.isfinite(score)]
        return max(finite, key=lambda name: self.single[name])

    def describe(self) -> str:
        """`top1 x3 + kmer-ridge x2`: the members and their weights, heaviest first."""
        order = sorted(self.weights.items(), key=lambda kv: (-kv[1], kv[0]))
        return " + ".join(f"{name} x{w}" for name, w in order)


def mean_pearson(pred: np.ndarray, labels: np.ndarray) -> float:
    """Pearson r between prediction and label columns, averaged over targets."""
    pred, labels = as_columns(pred), as_columns(labels)
    return float(np.mean([pearson(pred[:, j], labels[:, j]) for j in range(labels.shape[1])]))


def as_columns(values: np.ndarray) -> np.ndarray:
    """An (N,) or (N, n_targets) prediction or label array as float64 (N, n_targets)."""
    values = np.asarray(values, np.float64)
    return values.reshape(len(values), -1)


def select_ensemble(predictions: Mapping[str, np.ndarray], labels: np.ndarray,
                    rounds: int = DEFAULT_ROUNDS) -> Selection:
    """Greedy forward selection with replacement over `predictions` (name -> (n_val,
    n_targets) array, or (n_val,) for one target) against `labels`, for `rounds` rounds,
    keeping the best-scoring round (the earliest on ties). A candidate with a non-finite
    prediction (a diverged model) is not chosen; its single score is NaN."""
    if not predictions:
        raise ConfigError("ensemble selection needs at least one candidate")
    if rounds < 1:
        raise ConfigError(f"ensemble selection needs at least one round, got {rounds}")
    y = as_columns(labels)
    preds = {name: as_columns(p) for name, p in predictions.items()}
    bad = [f"{name} {p.shape}" for name, p in preds.items() if p.shape != y.shape]
    if bad:
        raise ConfigError(f"validation predictions must match the labels' shape {y.shape}: "
                          + ", ".join(bad))
    if not np.isfinite(y).all():
        raise ConfigError("ensemble selection: the validation labels have non-finite values")
    single = {name: mean_pearson(p, y) if np.isfinite(p).all() else np.nan
              for name, p in preds.items()}
    preds = {name: p for name, p in preds.items() if np.isfinite(single[name])}
    if not preds:
        raise ConfigError("ensemble selection: no candidate has finite validation predictions")
    total = np.zeros_like(y)
    counts = dict.fromkeys(preds, 0)
    best: tuple[float, dict[str, int]] = (-np.inf, {})
    history = []
    for n in range(1, rounds + 1):
        scores = {name: mean_pearson((total + p) / n, y) for name, p in preds.items()}
        pick = max(scores, key=lambda name: scores[name])
        total += preds[pick]
        counts[pick] += 1
        history.append(scores[pick])
        if scores[pick] > best[0] + TIE:
            best = (scores[pick], {k: c for k, c in counts.items() if c})
    return Selection(best[1], float(best[0]), single, tuple(history))
