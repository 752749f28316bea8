"""Weighted ensembles whose members may be trained models or a saved k-mer ridge.

A weighted ensemble directory holds `ensemble.json` with `format_version` 2, `combine`
"weighted" and `members`: [{"path", "kind" ("model" | "kmer-ridge"), "weight", optionally
"scale" and "shift"}], paths relative to the directory (it can be moved); it predicts
sum(w_i * c_i(p_i)) / sum(w_i), c_i a member's per-target affine calibration (identity when it
has none; evaluation/calibration.py). `refit` writes one from its ensemble selection
(evaluation/selection.py). It lives here rather than beside the
mean ensemble in training/export.py because a member may be the k-mer ridge, which belongs to
this layer.

`load_any_predictor` and `any_trained_on` open every kind of directory (a model, a mean
ensemble, a weighted ensemble, a saved ridge): `predict` and `evaluate` use them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.evaluation.calibration import Calibration
from prixfixe_blocks.evaluation.ridge_io import (
    RIDGE_FILE,
    RidgePredictor,
    is_ridge_dir,
    load_kmer_ridge,
)
from prixfixe_blocks.training.export import (
    DATASET_KEY,
    ENSEMBLE_FILE,
    META_FILE,
    EnsemblePredictor,
    Predictor,
    TrainedOn,
    load_model,
    load_predictor,
    trained_on,
)

WEIGHTED_FORMAT = 2
MODEL, RIDGE = "model", "kmer-ridge"  # member kinds
AnyPredictor = Predictor | EnsemblePredictor | RidgePredictor


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"invalid JSON: {err}", path=str(path)) from None
    if not isinstance(doc, dict):
        raise DataError("expected a JSON object", path=str(path))
    return doc


def _kind(member: Path) -> str:
    if is_ridge_dir(member):
        return RIDGE
    if (member / META_FILE).is_file():
        return MODEL
    raise DataError(f"not a model or k-mer ridge directory (no {META_FILE} or {RIDGE_FILE})",
                    path=str(member))


def _targets(member: Path) -> list[str]:
    return list(_read(member / (RIDGE_FILE if is_ridge_dir(member) else META_FILE))["targets"])


def save_weighted_ensemble(ensemble_dir: str | Path, members: Sequence[tuple[Path, float]],
                           info: dict[str, Any] | None = None,
                           calibrations: Sequence[Calibration | None] | None = None) -> Path:
    """Write ensemble.json (format 2) for `members` ((directory inside `ensemble_dir`,
    positive weight)), each with its calibration when `calibrations` gives one, plus `info`;
    DataError when a member is outside, not a model or ridge directory, weightless, or predicts
    other targets than the rest."""
    root = Path(ensemble_dir).resolve()
    where = str(root / ENSEMBLE_FILE)
    if not members:
        raise DataError("an ensemble needs at least one member", path=where, field="members")
    calibrations = list(calibrations or [None] * len(members))
    if len(calibrations) != len(members):
        raise DataError(f"{len(members)} members but {len(calibrations)} calibrations",
                        path=where, field="members")
    entries, targets = [], []
    for (path, weight), calibration in zip(members, calibrations, strict=True):
        member = Path(path).resolve()
        if not member.is_relative_to(root):
            raise DataError(f"member {path} is not inside the ensemble directory", path=where,
                            field="members")
        if not (math.isfinite(weight) and weight > 0):
            raise DataError(f"member {path} has weight {weight}; weights must be positive",
                            path=where, field="weights")
        entries.append({"path": member.relative_to(root).as_posix(), "kind": _kind(member),
                        "weight": weight, **(calibration.to_json() if calibration else {})})
        targets.append(_targets(member))
        if calibration is not None and len(calibration.scale) != len(targets[-1]):
            raise DataError(f"member {path}: calibration for {len(calibration.scale)} targets, "
                            f"the member predicts {len(targets[-1])}", path=where,
                            field="members")
    if any(t != targets[0] for t in targets):
        raise DataError(f"members predict different targets: {targets}", path=where,
                        field="members")
    doc = {**(info or {}), "format_version": WEIGHTED_FORMAT, "combine": "weighted",
           "members": entries, "targets": targets[0],
           "created": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write_text(root / ENSEMBLE_FILE, json.dumps(doc, indent=2) + "\n")
    return root


Member = tuple[Path, str, float, Calibration | None]  # directory, kind, weight, calibration


def weighted_members(ensemble_dir: str | Path) -> list[Member] | None:
    """(directory, kind, weight, calibration) of each member of a weighted ensemble (None: the
    directory is not one); DataError naming the file and field when ensemble.json is
    malformed."""
    path = Path(ensemble_dir) / ENSEMBLE_FILE
    if not path.is_file():
        return None
    doc = _read(path)
    if doc.get("format_version") != WEIGHTED_FORMAT:
        return None
    members = doc.get("members")
    if not isinstance(members, list) or not members:
        raise DataError("expected a non-empty list of members", path=str(path), field="members")
    out = []
    for i, entry in enumerate(members):
        try:
            member = (Path(ensemble_dir) / str(entry["path"]), str(entry["kind"]),
                      float(entry["weight"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"member {i}: unreadable ({err})", path=str(path),
                            field="members") from None
        if member[1] not in (MODEL, RIDGE) or not (math.isfinite(member[2]) and member[2] > 0):
            raise DataError(f"member {i}: kind must be {MODEL} or {RIDGE} and weight positive, "
                            f"got {member[1]!r}, {member[2]}", path=str(path), field="members")
        n_targets = len(doc.get("targets") or entry.get("scale") or [])
        out.append((*member, Calibration.from_json(entry, n_targets, f"{path} member {i}")))
    return out


class WeightedEnsemble:
    """Members (models and / or a k-mer ridge) predicting the same targets, weighted."""

    def __init__(self, members: Sequence[AnyPredictor], weights: Sequence[float],
                 calibrations: Sequence[Calibration | None] | None = None) -> None:
        self.members, self.weights = list(members), np.asarray(weights, np.float64)
        self.calibrations = list(calibrations or [None] * len(self.members))

    @property
    def targets(self) -> list[str]:
        """Names of the predicted targets."""
        return self.members[0].targets

    def predict(self, sequences: Sequence[str] | pa.Array | pa.ChunkedArray,
                batch_size: int = 1024) -> np.ndarray:
        """sum(w_i * c_i(p_i)) / sum(w_i) over the members' calibrated predictions
        (N, n_targets)."""
        total = 0.0
        for m, w, c in zip(self.members, self.weights, self.calibrations, strict=True):
            pred = np.asarray(m.predict(sequences, batch_size), np.float64)
            total = total + w * (c.apply(pred) if c is not None else pred)
        return total / self.weights.sum()


def load_any_predictor(model_dir: str | Path,
                       device: str = "auto") -> AnyPredictor | WeightedEnsemble:
    """The predictor of a model, mean-ensemble, weighted-ensemble or k-mer ridge directory."""
    if is_ridge_dir(model_dir):
        return RidgePredictor(load_kmer_ridge(model_dir))
    members = weighted_members(model_dir)
    if members is None:
        return load_predictor(model_dir, device)
    loaded = [RidgePredictor(load_kmer_ridge(path)) if kind == RIDGE else load_model(path, device)
              for path, kind, _, _ in members]
    return WeightedEnsemble(loaded, [m[2] for m in members], [m[3] for m in members])


def any_trained_on(model_dir: str | Path) -> TrainedOn | None:
    """The training dataset recorded for any directory `load_any_predictor` opens (an
    ensemble: its first member's)."""
    members = weighted_members(model_dir)
    first = members[0][0] if members else Path(model_dir)
    if not is_ridge_dir(first):
        return trained_on(first)
    return TrainedOn.parse(_read(first / RIDGE_FILE).get(DATASET_KEY), first / RIDGE_FILE)
