"""A fitted k-mer ridge as a directory, so an ensemble can hold it as a member: no pickle.

`kmer_ridge.json` holds what it is (k range, feature count, targets, penalty, training rows,
the training dataset as model.json records it) and `kmer_ridge.npz` its coefficients (one
column per target over the k-mer count features) and bias, read with `allow_pickle=False`.
`RidgePredictor` gives it the interface of a model's Predictor (`targets`, `predict`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from prixfixe_blocks.atomic import atomic_write, atomic_write_text
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.evaluation.kmer_ridge import KmerRidge
from prixfixe_blocks.evaluation.kmers import MAX_K, N_FEATURES
from prixfixe_blocks.training.export import DATASET_KEY, TrainedOn

RIDGE_FILE, RIDGE_ARRAYS = "kmer_ridge.json", "kmer_ridge.npz"
RIDGE_FORMAT = 1
K_RANGE = list(range(1, MAX_K + 1))


def is_ridge_dir(path: str | Path) -> bool:
    """Whether `path` holds a saved k-mer ridge."""
    return (Path(path) / RIDGE_FILE).is_file()


def save_kmer_ridge(ridge_dir: str | Path, model: KmerRidge,
                    dataset: TrainedOn | None = None) -> Path:
    """Write kmer_ridge.json and kmer_ridge.npz into `ridge_dir` (created if needed)."""
    root = Path(ridge_dir)
    meta = {"format_version": RIDGE_FORMAT, "k": K_RANGE, "n_features": N_FEATURES,
            "targets": list(model.targets), "alpha": model.alpha,
            "holdout_pearson": model.holdout_pearson if np.isfinite(model.holdout_pearson)
            else None, "n_rows": model.n_rows,
            DATASET_KEY: dataset.to_dict() if dataset else None,
            "created": datetime.now(UTC).isoformat(timespec="seconds")}

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez(handle, weights=model.weights[:N_FEATURES], bias=model.bias)

    atomic_write(root / RIDGE_ARRAYS, write)
    atomic_write_text(root / RIDGE_FILE, json.dumps(meta, indent=2) + "\n")
    return root


def ridge_meta(ridge_dir: str | Path) -> dict[str, Any]:
    """kmer_ridge.json, checked: its format and k range are the ones this version computes."""
    path = Path(ridge_dir) / RIDGE_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError("missing (not a k-mer ridge directory?)", path=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"invalid JSON: {err}", path=str(path)) from None
    for key, want in (("format_version", RIDGE_FORMAT), ("k", K_RANGE),
                      ("n_features", N_FEATURES)):
        if meta.get(key) != want:
            raise DataError(f"expected {want!r}, got {meta.get(key)!r}", path=str(path),
                            field=key)
    return meta


def load_kmer_ridge(ridge_dir: str | Path) -> KmerRidge:
    """The KmerRidge saved in `ridge_dir`; DataError naming the file and field when it is not
    one this version can use."""
    meta = ridge_meta(ridge_dir)
    path = Path(ridge_dir) / RIDGE_ARRAYS
    try:
        with np.load(path, allow_pickle=False) as arrays:
            weights, bias = arrays["weights"], arrays["bias"]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"cannot read the coefficients: {err}", path=str(path)) from None
    n_targets = len(meta["targets"])
    for name, array, shape in (("weights", weights, (N_FEATURES, n_targets)),
                               ("bias", bias, (n_targets,))):
        if array.shape != shape or not np.isfinite(array).all():
            raise DataError(f"expected finite values of shape {shape}, got {array.shape}",
                            path=str(path), field=name)
    full = np.vstack([weights.astype(np.float64), np.zeros((1, n_targets))])
    holdout = meta.get("holdout_pearson")
    return KmerRidge(full, bias.astype(np.float64), tuple(meta["targets"]),
                     float(meta["alpha"]), float("nan") if holdout is None else float(holdout),
                     int(meta["n_rows"]))


class RidgePredictor:
    """A saved k-mer ridge behind the Predictor interface."""

    def __init__(self, model: KmerRidge) -> None:
        self.model = model

    @property
    def targets(self) -> list[str]:
        """Names of the predicted targets."""
        return list(self.model.targets)

    def predict(self, sequences: Sequence[str] | pa.Array | pa.ChunkedArray,
                batch_size: int = 1024) -> np.ndarray:
        """Predictions (N, n_targets); `batch_size` is accepted for the interface only."""
        seqs = sequences if isinstance(sequences, pa.Array | pa.ChunkedArray) else list(sequences)
        return self.model.predict(seqs)
