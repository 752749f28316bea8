"""The k-mer ridge baseline of an evaluation: which dataset, which rows, the fit.

It is fitted on the *training rows* of a dataset: the rows whose `split` is "train" (in any
case) when the dataset has a split column, else the rows outside the validation folds (those
recorded for the model when it is the model's own dataset, else fold 0 as `train` uses by
default); never test rows. The dataset is `--baseline-data`, else the one the model's
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
import pyarrow.compute as pc

from prixfixe_blocks.data.loader import ShardLoader
from prixfixe_blocks.data.schema import DatasetMeta, open_dataset
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.kmer_ridge import KmerRidge, fit_kmer_ridge
from prixfixe_blocks.training.export import trained_on

MAX_ROWS = 100_000
TRAIN_SPLIT = "train"
DEFAULT_VAL_FOLDS = (0,)  # `train --val-folds` default
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
    recorded = trained_on(model_dir)
    if override:
        same = recorded is not None and Path(override).resolve() == Path(recorded.path)
        return override, recorded.val_folds if same else DEFAULT_VAL_FOLDS
    if recorded is not None:
        if not Path(recorded.path).is_dir():
            raise ConfigError(f"{model_dir}: the model was trained on {recorded.path}, which "
                              "is gone; pass --baseline-data DATASET for the k-mer baseline")
        return recorded.path, recorded.val_folds
    if fallback:
        return fallback, DEFAULT_VAL_FOLDS
    raise ConfigError(f"{model_dir}: model.json does not record the training dataset (an older "
                      "model); pass --baseline-data DATASET for the k-mer baseline")


def _is_train(table: pa.Table) -> pa.Array:
    """Rows whose split is TRAIN_SPLIT in any case (DeepSTARR writes "Train")."""
    return pc.equal(pc.utf8_lower(table.column("split")), TRAIN_SPLIT)


def _training_rows(data_dir: str, meta: DatasetMeta, columns: list[str],
                   val_folds: Sequence[int]) -> tuple[Iterator[pa.Table], int]:
    """The training rows in batches, and how many there are."""
    if "split" not in meta.columns:
        loader = ShardLoader(data_dir, batch_size=READ_BATCH, exclude_folds=list(val_folds),
                             columns=columns, shuffle=False)
        return (pa.Table.from_batches([b]) for b in loader.epoch(0)), loader.n_rows
    splits = ShardLoader(data_dir, batch_size=READ_BATCH, columns=["split"], shuffle=False)
    count = sum(pc.sum(_is_train(pa.Table.from_batches([b]))).as_py() or 0
                for b in splits.epoch(0))
    if count == 0:
        names = sorted(k for k in meta.rows if k != "total")
        raise ConfigError(f"{data_dir}: no rows with split '{TRAIN_SPLIT}' for the k-mer "
                          f"baseline (splits: {', '.join(names)}); pass --baseline-data")
    loader = ShardLoader(data_dir, batch_size=READ_BATCH, columns=[*columns, "split"],
                         shuffle=False)
    batches = (pa.Table.from_batches([b]) for b in loader.epoch(0))
    return (t.filter(_is_train(t)).select(columns) for t in batches), count


def fit_baseline(data_dir: str, targets: Sequence[str],
                 val_folds: Sequence[int] = DEFAULT_VAL_FOLDS, *, max_rows: int = MAX_ROWS,
                 seed: int = 0) -> Baseline:
    """Fit the k-mer ridge baseline on the training rows of `data_dir` for `targets`."""
    meta = open_dataset(data_dir)
    absent = [t for t in targets if t not in meta.columns]
    if absent:
        raise ConfigError(f"{data_dir} has no column {', '.join(absent)} for the k-mer baseline "
                          f"(its targets: {', '.join(meta.targets)}); pass --baseline-data")
    tables, available = _training_rows(data_dir, meta, ["sequence", *targets, "fold"],
                                       val_folds)
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
