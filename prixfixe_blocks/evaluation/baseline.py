"""The k-mer ridge baseline of an evaluation: which dataset, which rows, the fit.

It is fitted on the *training rows* of a dataset, chosen by `data.splits` exactly as `train`
chooses them (the train split, or the rows outside the validation folds: those recorded for the
model when it is the model's own dataset, else `train`'s default); never test rows. The
dataset is `--baseline-data`, else the one the model's
directory records (model.json `dataset`). Above MAX_ROWS training rows a seeded random
MAX_ROWS of them are used (the fit costs O(rows) plus a fixed ~5460^3 / 3). The penalty is
chosen on the rows of one hash fold (the lowest fold number among the training rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.dataset import Dataset
from prixfixe_blocks.data.format.splits import DEFAULT_VAL_FOLDS, TRAIN
from prixfixe_blocks.data.read.parts import split_loader
from prixfixe_blocks.data.store.location import is_uri, normalize
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.ensemble import any_trained_on
from prixfixe_blocks.evaluation.kmer_ridge import KmerRidge, fit_kmer_ridge

MAX_ROWS = 100_000
READ_BATCH = 65_536


@dataclass(frozen=True)
class Baseline:
    """A fitted baseline and where it came from."""

    model: KmerRidge
    data: str
    rows: int  # rows fitted
    available: int  # training rows of the dataset

    def describe(self) -> str:
        """One line: what it was fitted on and the penalty it chose."""
        used = (f"{self.rows:,} training rows" if self.rows == self.available
                else f"{self.rows:,} of {self.available:,} training rows (random)")
        chosen = (f"penalty {self.model.alpha:g} x 5460 chosen on a hold-out fold "
                  f"(r {self.model.holdout_pearson:.3f})"
                  if np.isfinite(self.model.holdout_pearson)
                  else f"default penalty {self.model.alpha:g} x 5460")
        return f"k-mer ridge baseline (1- to 6-mers): fitted on {used} of {self.data}, {chosen}"


def baseline_dataset(model_dir: str | Path, override: str | None,
                     fallback: str | None = None) -> tuple[str, tuple[int, ...]]:
    """The baseline's dataset and the validation folds to leave out: `override`, else the
    model's recorded dataset, else `fallback`; ConfigError when there is none."""
    recorded = any_trained_on(model_dir)
    if override:
        same = recorded is not None and normalize(override) == recorded.path
        return override, recorded.val_folds if same else DEFAULT_VAL_FOLDS
    if recorded is not None:
        if not is_uri(recorded.path) and not Path(recorded.path).is_dir():
            raise ConfigError(f"{model_dir}: the model was trained on {recorded.path}, which "
                              "is gone; pass --baseline-data DATASET for the k-mer baseline")
        return recorded.path, recorded.val_folds
    if fallback:
        return fallback, DEFAULT_VAL_FOLDS
    raise ConfigError(f"{model_dir}: model.json does not record the training dataset (an older "
                      "model); pass --baseline-data DATASET for the k-mer baseline")


def _training_rows(dataset: Dataset, columns: list[str], val_folds: Sequence[int],
                   part: str = TRAIN) -> tuple[Iterator[pa.Table], int]:
    """The training rows (the dataset's TRAIN part, as `train` fits on; FIT for a refit's
    comparison) in batches, and how many there are."""
    loader = split_loader(dataset, part, val_folds=val_folds, batch_size=READ_BATCH,
                          columns=columns, shuffle=False)
    if loader.n_rows == 0:
        raise ConfigError(f"{dataset.location}: no training rows for the k-mer baseline; pass "
                          "--baseline-data")
    return (pa.Table.from_batches([b]) for b in loader.epoch(0)), loader.n_rows


def fit_baseline(data_dir: str, targets: Sequence[str],
                 val_folds: Sequence[int] = DEFAULT_VAL_FOLDS, *, max_rows: int = MAX_ROWS,
                 seed: int = 0, part: str = TRAIN) -> Baseline:
    """Fit the k-mer ridge baseline on the training rows of `data_dir` for `targets` (`part`
    FIT: train + val, the rows a refit trains on)."""
    dataset = Dataset.open(data_dir)
    meta = dataset.meta
    absent = [t for t in targets if t not in meta.columns]
    if absent:
        raise ConfigError(f"{data_dir} has no column {', '.join(absent)} for the k-mer baseline "
                          f"(its targets: {', '.join(meta.targets)}); pass --baseline-data")
    tables, available = _training_rows(dataset, ["sequence", *targets, "fold"], val_folds,
                                       part)
    if available < 2:
        raise ConfigError(f"{data_dir}: {available} training rows, too few for the k-mer "
                          "baseline")
    keep = min(1.0, max_rows / available)
    rng = np.random.default_rng(seed)
    parts = [t.filter(pa.array(rng.random(t.num_rows) < keep)) if keep < 1.0 else t
             for t in tables]
    table = pa.concat_tables(parts)
    y = np.column_stack([table.column(t).to_numpy().astype(np.float64) for t in targets])
    fold = table.column("fold").to_numpy()
    model = fit_kmer_ridge(table.column("sequence"), y, fold == fold.min(), tuple(targets))
    return Baseline(model, str(data_dir), table.num_rows, available)
