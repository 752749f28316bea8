"""Ensemble selection (Caruana et al., 2004): greedy forward selection with replacement.

Given each candidate's predictions on validation rows, the ensemble starts empty and each round
adds the candidate (again, possibly) whose addition gives the best score of the mean prediction.
After a fixed number of rounds the best ensemble seen in any round is kept, so the result never
scores below the best single candidate (round 1 picks it). A candidate picked n times has
integer weight n; the ensemble predicts sum(w_i * p_i) / sum(w_i). Score: Pearson r per target
(column), averaged. Plain numpy, so refit and the tests use it without torch.

A weight is not a member's share of the mix: a near-flat candidate (an undertrained trial)
moves the mean little per round, so it can take 23 of 25 rounds and still be a small part of
the prediction. Each member's share, w_i * sd(p_i) / sum(w_j * sd(p_j)) (spread on the
validation rows, averaged over targets), is therefore reported beside its weight. Mixing
standardised candidates instead (weights = shares) was measured on 8 saved 3-minute searches
and did not score higher on test rows (README, "Results on held-out data"), so the mean stays
on the candidates' own scales, where a flat, undertrained candidate weighs little. Candidates
scoring below half the best single score are left out first (library pruning, Caruana et al.
2006): on those 8 searches the greedy had given such candidates 8-23 of 25 rounds, and twice
the ensemble then scored below the ridge alone on test rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.training.metrics import pearson

DEFAULT_ROUNDS = 25  # Caruana et al. found tens of rounds enough; more rarely changes the pick
TIE = 1e-9  # a round must beat the best so far by more than this (rounding is not a gain)
# Library pruning (Caruana et al., 2006): a candidate scoring below this fraction of the best
# single score on validation is not a candidate (an undertrained or failed trial, which the
# greedy otherwise adds for gains within the validation rows' noise).
PRUNE = 0.5


@dataclass(frozen=True)
class Selection:
    """The chosen ensemble: candidate name -> integer weight (chosen ones only), its score on
    the validation rows, each candidate's own score, the score after every round, each
    member's share of the mix (fraction of the weighted spread; empty: not known), and the
    candidates left out for scoring below the pruning fraction of the best."""

    weights: dict[str, int]
    score: float
    single: dict[str, float]
    history: tuple[float, ...]
    shares: dict[str, float] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()

    @property
    def best_single(self) -> str:
        """The candidate that scores best alone (the first such, in input order)."""
        finite = [name for name, score in self.single.items() if np.isfinite(score)]
        return max(finite, key=lambda name: self.single[name])

    def describe(self) -> str:
        """`top1 x3 (62%) + kmer-ridge x2 (38%)`: the members, their weights and shares of
        the mix, the largest share (else weight) first."""
        order = sorted(self.weights, key=lambda n: (-self.shares.get(n, 0), -self.weights[n], n))
        return " + ".join(f"{name} x{self.weights[name]}" + (
            f" ({self.shares[name]:.0%})" if name in self.shares else "") for name in order)


def mean_pearson(pred: np.ndarray, labels: np.ndarray) -> float:
    """Pearson r between prediction and label columns, averaged over targets."""
    pred, labels = as_columns(pred), as_columns(labels)
    return float(np.mean([pearson(pred[:, j], labels[:, j]) for j in range(labels.shape[1])]))


def as_columns(values: np.ndarray) -> np.ndarray:
    """An (N,) or (N, n_targets) prediction or label array as float64 (N, n_targets)."""
    values = np.asarray(values, np.float64)
    return values.reshape(len(values), -1)


def select_ensemble(predictions: Mapping[str, np.ndarray], labels: np.ndarray,
                    rounds: int = DEFAULT_ROUNDS, prune: float = PRUNE) -> Selection:
    """Greedy forward selection with replacement over `predictions` (name -> (n_val,
    n_targets) array, or (n_val,) for one target) against `labels`, for `rounds` rounds,
    keeping the best-scoring round (the earliest on ties). A candidate with a non-finite
    prediction (a diverged model) is not chosen, its single score NaN; nor is one scoring
    below `prune` times the best single score (`Selection.pruned`; 0: none is left out)."""
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
    top = max(single[name] for name in preds)
    floor = prune * top if top > 0 else -np.inf
    pruned = tuple(name for name in preds if single[name] < floor)
    preds = {name: p for name, p in preds.items() if name not in pruned}
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
    return Selection(best[1], float(best[0]), single, tuple(history),
                     mix_shares({name: preds[name] for name in best[1]}, best[1]), pruned)


def mix_shares(predictions: Mapping[str, np.ndarray], weights: Mapping[str, int]
               ) -> dict[str, float]:
    """Each member's share of a weighted mean of `predictions`: w_i * sd_i / sum(w_j * sd_j),
    sd the spread of its (N, n_targets) predictions averaged over targets."""
    spread = {name: w * float(np.mean(as_columns(predictions[name]).std(axis=0)))
              for name, w in weights.items()}
    total = sum(spread.values())
    return {name: s / total if total > 0 else 1 / len(spread) for name, s in spread.items()}
