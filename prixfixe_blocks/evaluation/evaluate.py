"""Evaluate a model beside the k-mer ridge baseline: on a suite, or on a dataset's rows.

Both give an `Evaluation`: the same figures for the model and the baseline, a readable table
(`table()`) and a JSON document (`to_json()`): for a suite, top-level `pearson_score` and
`spearman_score` (the weighted DREAM scores) and `subsets` (name -> pearson, spearman, n); for
a dataset, `targets` (name -> pearson, spearman, mse, n) and their means; the baseline's
figures in the same shape under BASELINE_KEY.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.dataset import Dataset
from prixfixe_blocks.data.format.suite_tsv import Suite
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.baseline import READ_BATCH, Baseline
from prixfixe_blocks.evaluation.dream_score import (
    DreamScore,
    SubsetScore,
    TargetScore,
    dream_score,
    score_suite,
    score_targets,
)

BASELINE_KEY = "kmer_ridge_baseline"
Predict = Callable[[pa.Array], np.ndarray]  # sequences -> (N, n_targets)


@dataclass(frozen=True)
class SuiteScores:
    """Per-subset scores and the weighted DREAM scores of one predictor on a suite."""

    subsets: dict[str, SubsetScore]
    dream: DreamScore

    def to_json(self) -> dict[str, Any]:
        return {"pearson_score": self.dream.pearson, "spearman_score": self.dream.spearman,
                "subsets": {name: {"pearson": s.pearson, "spearman": s.spearman, "n": s.n,
                                   "pairs": s.pairs} for name, s in self.subsets.items()}}


@dataclass(frozen=True)
class TargetScores:
    """Per-target scores of one predictor on a dataset's rows."""

    targets: dict[str, TargetScore]

    def to_json(self) -> dict[str, Any]:
        per = self.targets.values()
        return {"pearson": float(np.mean([t.pearson for t in per])),
                "spearman": float(np.mean([t.spearman for t in per])),
                "mse": float(np.mean([t.mse for t in per])),
                "targets": {name: {"pearson": t.pearson, "spearman": t.spearman, "mse": t.mse,
                                   "n": t.n} for name, t in self.targets.items()}}


@dataclass(frozen=True)
class Evaluation:
    """The model's and the baseline's scores on the same rows, and what they were."""

    model: SuiteScores | TargetScores
    baseline: SuiteScores | TargetScores
    fitted: Baseline
    source: dict[str, Any]  # model, suite/pairs/measure or data/split, rows
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        doc = {**self.source, **self.model.to_json()}
        if isinstance(self.model, SuiteScores):
            doc["weights"] = self.model.dream.weights
            doc["missing_subsets"] = list(self.model.dream.missing)
        doc[BASELINE_KEY] = {
            **self.baseline.to_json(), "data": self.fitted.data, "rows": self.fitted.rows,
            "alpha": self.fitted.model.alpha, "holdout_pearson": self.fitted.model.holdout_pearson}
        doc["notes"] = list(self.notes)
        return doc

    def table(self) -> str:
        """The figures side by side (model | k-mer ridge), then the notes."""
        model, base = self.model, self.baseline
        if isinstance(model, SuiteScores) and isinstance(base, SuiteScores):
            body = _suite_table(model, base)
        elif isinstance(model, TargetScores) and isinstance(base, TargetScores):
            body = _target_table(model, base)
        else:
            raise TypeError("the model and the baseline were scored differently")
        return "\n".join([body, self.fitted.describe(), *self.notes])


def target_index(targets: Sequence[str], measure: str) -> int:
    """The model output compared with a suite's `measure` column: the target of that name,
    else the only one; ConfigError for a multi-target model without a match."""
    if measure in targets:
        return list(targets).index(measure)
    if len(targets) == 1:
        return 0
    raise ConfigError(f"the model predicts {', '.join(targets)}; the suite's measurement column "
                      f"'{measure}' is none of them (--measure: a column named like a target)")


def evaluate_suite(predict: Predict, targets: Sequence[str], suite: Suite,
                   baseline: Baseline, source: dict[str, Any]) -> Evaluation:
    """Score the model and the baseline on a suite (one model output: see target_index)."""
    j = target_index(targets, suite.measure)
    model = _suite_scores(predict(suite.sequences)[:, j], suite)
    base_j = list(baseline.model.targets).index(targets[j])
    base = _suite_scores(baseline.model.predict(suite.sequences)[:, base_j], suite)
    notes = (f"note: {model.dream.note}",) if model.dream.note else ()
    return Evaluation(model, base, baseline, {**source, "target": targets[j]}, notes)


def _suite_scores(pred: np.ndarray, suite: Suite) -> SuiteScores:
    subsets = score_suite(pred, suite)
    return SuiteScores(subsets, dream_score(subsets))


def dataset_rows(data_dir: str, targets: Sequence[str], split: str | None) -> pa.Table:
    """`sequence` and `targets` of a dataset's rows (those of `split` when given);
    ConfigError naming what is missing."""
    dataset = Dataset.open(data_dir)  # dataset.json read once, shared with the loader
    meta = dataset.meta
    if split is not None and "split" not in meta.columns:
        raise ConfigError(f"{data_dir} has no split column, so --split {split} selects nothing; "
                          f"add one with `prixfixe-search data split {data_dir} --test-fraction "
                          "0.1` (or evaluate all rows without --split)")
    absent = [t for t in targets if t not in meta.columns]
    if absent:
        raise ConfigError(f"{data_dir} has no column for the model's target(s) "
                          f"{', '.join(absent)} (its targets: {', '.join(meta.targets)})")
    loader = ShardLoader(dataset, batch_size=READ_BATCH, split=split,
                         columns=["sequence", *targets], shuffle=False)
    if loader.n_rows == 0:
        splits = ", ".join(f"{k} ({v:,})" for k, v in meta.rows.items() if k != "total")
        raise ConfigError(f"{data_dir}: no rows with split '{split}' (splits: {splits})")
    return pa.Table.from_batches(list(loader.epoch(0)))


def evaluate_rows(predict: Predict, targets: Sequence[str], rows: pa.Table, baseline: Baseline,
                  source: dict[str, Any], notes: Sequence[str] = ()) -> Evaluation:
    """Score the model and the baseline on a dataset's rows, per target."""
    true = np.column_stack([rows.column(t).to_numpy() for t in targets])
    seqs = rows.column("sequence")
    model = TargetScores(score_targets(predict(seqs), true, targets))
    cols = [list(baseline.model.targets).index(t) for t in targets]
    base = TargetScores(score_targets(baseline.model.predict(seqs)[:, cols], true, targets))
    return Evaluation(model, base, baseline, {**source, "rows": rows.num_rows}, tuple(notes))


def _f(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "nan"


def _grid(rows: list[list[str]], rule_before: int | None = None) -> str:
    """Columns padded to their widest cell: the first left-aligned, the others right-aligned;
    a rule under the header (and before row `rule_before`)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    rule = "-" * len(lines[0])
    if rule_before is not None:
        lines.insert(rule_before, rule)
    lines.insert(1, rule)
    return "\n".join(lines)


def _suite_table(model: SuiteScores, base: SuiteScores) -> str:
    rows = [["subset", "n", "model r", "model rho", "k-mer r", "k-mer rho"]]
    for name, s in model.subsets.items():
        b = base.subsets[name]
        rows.append([f"{name} (alt - ref)" if s.pairs else name, str(s.n), _f(s.pearson),
                     _f(s.spearman), _f(b.pearson), _f(b.spearman)])
    rows.append(["DREAM score (weighted r^2, rho)", "", _f(model.dream.pearson),
                 _f(model.dream.spearman), _f(base.dream.pearson), _f(base.dream.spearman)])
    return _grid(rows, rule_before=len(rows) - 1)


def _target_table(model: TargetScores, base: TargetScores) -> str:
    rows = [["target", "n", "model r", "model rho", "model mse", "k-mer r", "k-mer rho",
             "k-mer mse"]]
    for name, t in model.targets.items():
        b = base.targets[name]
        rows.append([name, str(t.n), _f(t.pearson), _f(t.spearman), _f(t.mse), _f(b.pearson),
                     _f(b.spearman), _f(b.mse)])
    return _grid(rows)
