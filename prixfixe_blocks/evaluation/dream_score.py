"""Scores: per subset of a suite (DREAM style) and per target of a dataset.

Per subset: Pearson r and Spearman rho of prediction vs measurement; a subset of the pairs TSV
is scored on the differences alt - ref (predicted vs measured). The weighted DREAM scores
(Rafi et al. 2024; docs/prixfixe-reference.md):
  Pearson score  = sum_s w_s r_s^2 / sum_s w_s      Spearman score = sum_s w_s rho_s / sum_s w_s
with DREAM_WEIGHTS (sum 4.65). A DREAM subset the suite lacks is left out and the weights are
renormalised over the ones present; a DREAM pair subset counts only when scored on pairs.
Subset names match the table case-insensitively ("SNVs" is "snv").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from prixfixe_blocks.data.format.suite_tsv import Suite
from prixfixe_blocks.training.metrics import pearson, spearman

DREAM_WEIGHTS: dict[str, float] = {
    "all": 1.0, "high": 0.3, "low": 0.3, "yeast": 0.3, "random": 0.3, "challenging": 0.5,
    "snv": 1.25, "motif_perturbation": 0.3, "motif_tiling": 0.4,
}
DREAM_PAIRED = frozenset({"snv", "motif_perturbation", "motif_tiling"})
ALIASES = {"snvs": "snv"}


@dataclass(frozen=True)
class SubsetScore:
    """One subset's correlations; `pairs`: scored on alt - ref differences (n = pairs)."""

    pearson: float
    spearman: float
    n: int
    pairs: bool = False


@dataclass(frozen=True)
class DreamScore:
    """The weighted scores, the weight each counted subset got, and what was left out."""

    pearson: float
    spearman: float
    weights: dict[str, float]  # suite subset name -> DREAM weight (before renormalising)
    missing: tuple[str, ...]  # DREAM subsets not counted
    note: str  # "" when all nine are present, else what was left out and why


@dataclass(frozen=True)
class TargetScore:
    """Pearson, Spearman and MSE of one target over n rows."""

    pearson: float
    spearman: float
    mse: float
    n: int


def dream_name(subset: str) -> str | None:
    """The DREAM subset a name stands for (None: not one of the nine)."""
    key = subset.strip().lower().replace(" ", "_")
    key = ALIASES.get(key, key)
    return key if key in DREAM_WEIGHTS else None


def _score(pred: np.ndarray, measured: np.ndarray, pairs: bool) -> SubsetScore:
    return SubsetScore(pearson(pred, measured), spearman(pred, measured), len(pred), pairs)


def score_suite(pred: np.ndarray, suite: Suite) -> dict[str, SubsetScore]:
    """Per subset scores for predictions of `suite.sequences`; a name in the pairs TSV is
    scored on differences (its single-sequence rows still count in `all`)."""
    pred = np.asarray(pred, np.float64).ravel()
    if len(pred) != len(suite.sequences):
        raise ValueError(f"{len(pred)} predictions for {len(suite.sequences)} sequences")
    out = {name: _score(pred[idx], suite.measured[idx], False)
           for name, idx in suite.members.items() if name not in suite.pairs}
    for name, (ref, alt) in suite.pairs.items():
        out[name] = _score(pred[alt] - pred[ref], suite.measured[alt] - suite.measured[ref], True)
    return out


def dream_score(subsets: Mapping[str, SubsetScore]) -> DreamScore:
    """The weighted Pearson and Spearman scores over the DREAM subsets present."""
    weights: dict[str, float] = {}
    unpaired = []
    for name, score in subsets.items():
        key = dream_name(name)
        if key is None or key in {dream_name(n) for n in weights}:
            continue
        if key in DREAM_PAIRED and not score.pairs:
            unpaired.append(name)
            continue
        weights[name] = DREAM_WEIGHTS[key]
    counted = {dream_name(n) for n in weights}
    missing = tuple(k for k in DREAM_WEIGHTS if k not in counted)
    total = sum(weights.values())
    if not total:
        return DreamScore(float("nan"), float("nan"), weights, missing,
                          _note(missing, unpaired, total))
    r2 = sum(w * subsets[n].pearson ** 2 for n, w in weights.items()) / total
    rho = sum(w * subsets[n].spearman for n, w in weights.items()) / total
    return DreamScore(float(r2), float(rho), weights, missing, _note(missing, unpaired, total))


def _note(missing: Sequence[str], unpaired: Sequence[str], total: float) -> str:
    if not missing:
        return ""
    full = sum(DREAM_WEIGHTS.values())
    text = (f"DREAM subsets not counted: {', '.join(missing)}; weights renormalised over the "
            f"{len(DREAM_WEIGHTS) - len(missing)} counted (sum {total:g} of {full:g})")
    if unpaired:
        text += (f"; {', '.join(unpaired)} scored on single sequences, not counted (pair "
                 f"subsets count when scored on alt - ref pairs: pass --pairs)")
    return text


def score_targets(pred: np.ndarray, true: np.ndarray, names: Sequence[str]
                  ) -> dict[str, TargetScore]:
    """Pearson, Spearman and MSE per target (columns of `pred` and `true`)."""
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    true = np.asarray(true, np.float64).reshape(len(true), -1)
    return {name: TargetScore(pearson(pred[:, j], true[:, j]), spearman(pred[:, j], true[:, j]),
                              float(np.mean((pred[:, j] - true[:, j]) ** 2)), len(true))
            for j, name in enumerate(names)}
