"""Model directories: what `Trainer.export` writes and `load_predictor` reads.

A model directory holds `spec.json` (the flat ModelSpec), `weights.safetensors` (the state dict)
and `model.json` (encoding parameters such as the plasmid flanks, target names and stats):
prediction needs nothing else, in particular not the training dataset. `model.json` also records
where the model was trained (`dataset`: {"path", "val_folds"}), which `evaluate` fits its
baseline on. Every file is written atomically. Nothing is unpickled when a directory is read
(training/weights.py): format 1 directories (pickled `weights.pt`) are refused, not read.

An ensemble directory holds `ensemble.json` listing member model directories (paths relative
to it, so the directory can be moved); it predicts the mean of its members' predictions.
`load_predictor` and `trained_on` open either kind, so `predict` and `evaluate` take both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.spec import ModelSpec
from prixfixe_blocks.strategies.input_encodings import Encoder, EncodingParams
from prixfixe_blocks.training.model import compose_model, predict_both_strands, resolve_device
from prixfixe_blocks.training.weights import WEIGHTS_FILE, read_weights, write_weights

MODEL_FORMAT = 2  # 1: pickled weights.pt (no longer read); 2: weights.safetensors
SPEC_FILE, META_FILE = "spec.json", "model.json"
MODEL_FILES = (SPEC_FILE, META_FILE, WEIGHTS_FILE)  # what a model directory predicts with
ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_FORMAT = 1
DATASET_KEY = "dataset"  # model.json: the training dataset (TrainedOn)


@dataclass(frozen=True)
class TrainedOn:
    """The dataset a model was trained on (absolute path) and its validation folds."""

    path: str
    val_folds: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "val_folds": list(self.val_folds)}

    @classmethod
    def parse(cls, entry: Any, path: Path) -> TrainedOn | None:
        """A JSON file's `dataset` entry (None: not recorded); DataError naming `path`."""
        if not entry:
            return None
        try:
            return cls(str(entry["path"]), tuple(int(f) for f in entry["val_folds"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"unreadable ({err})", path=str(path), field=DATASET_KEY) from None


def trained_on(model_dir: str | Path) -> TrainedOn | None:
    """What model.json records about the training dataset (None: not recorded); for an
    ensemble, what its first member's records."""
    members = ensemble_members(model_dir)
    path = (members[0] if members else Path(model_dir)) / META_FILE
    return TrainedOn.parse(_read_json(path).get(DATASET_KEY), path)


def save_model(model_dir: Path, spec: ModelSpec, params: EncodingParams,
               stats: list[tuple[float, ...]] | None, model: nn.Module,
               dataset: TrainedOn | None = None) -> Path:
    """Write spec.json, weights.safetensors and model.json into `model_dir` (created if
    needed)."""
    meta = {
        "format_version": MODEL_FORMAT,
        "encoding": params.to_dict(),
        "targets": list(params.targets),
        "target_stats": [list(s) for s in stats] if stats else None,
        "n_parameters": count_parameters(model),
        DATASET_KEY: dataset.to_dict() if dataset else None,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_weights(model.state_dict(), model_dir / WEIGHTS_FILE)
    atomic_write_text(model_dir / SPEC_FILE, spec.to_json() + "\n")
    atomic_write_text(model_dir / META_FILE, json.dumps(meta, indent=2) + "\n")
    return model_dir


class Predictor:
    """A trained model plus its encoder: sequences in, predictions (both strands averaged) out."""

    def __init__(self, model: nn.Module, encoder: Encoder, device: torch.device,
                 amp: bool = False) -> None:
        self.model, self.encoder, self.device, self.amp = model.eval(), encoder, device, amp

    @property
    def targets(self) -> list[str]:
        """Names of the predicted targets (one output column each)."""
        return list(self.encoder.params.targets)

    def predict(self, sequences: Sequence[str] | pa.Array | pa.ChunkedArray,
                batch_size: int = 1024) -> np.ndarray:
        """Predictions (N, n_targets) in input order, averaged over forward and reverse strands."""
        arr = sequences if isinstance(sequences, pa.Array | pa.ChunkedArray) else pa.array(
            list(sequences), type=pa.string())
        n_out = len(self.targets)
        chunks = [
            predict_both_strands(self.model, self.encoder, arr.slice(i, batch_size),
                                 self.device, self.amp)
            for i in range(0, len(arr), max(1, int(batch_size)))
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, n_out), np.float32)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError("missing (not a model directory?)", path=str(path))
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"invalid JSON: {err}", path=str(path)) from None


def load_model(model_dir: str | Path, device: str = "auto") -> Predictor:
    """Rebuild one model from a model directory (spec, encoding meta, weights)."""
    root = Path(model_dir)
    spec = ModelSpec.from_flat(_read_json(root / SPEC_FILE))
    meta = _read_json(root / META_FILE)
    if meta.get("format_version") != MODEL_FORMAT:
        old = " (pickled weights.pt, no longer read: retrain the model)" \
            if meta.get("format_version") == 1 else ""
        raise DataError(f"unsupported format_version {meta.get('format_version')!r}{old}",
                        path=str(root / META_FILE), field="format_version")
    params = EncodingParams.from_dict(meta["encoding"])
    stats = [tuple(s) for s in meta["target_stats"]] if meta.get("target_stats") else None
    dev = resolve_device(device)
    model = compose_model(spec, params, stats)
    try:
        model.load_state_dict(read_weights(root / WEIGHTS_FILE))
    except RuntimeError as err:  # missing, unexpected or misshapen tensors
        raise DataError(f"weights do not fit spec.json: {err}",
                        path=str(root / WEIGHTS_FILE)) from None
    return Predictor(model.to(dev), Encoder(params), dev, amp=dev.type == "cuda")


class EnsemblePredictor:
    """Member models predicting the same targets: the mean of their predictions."""

    def __init__(self, members: Sequence[Predictor]) -> None:
        self.members = list(members)

    @property
    def targets(self) -> list[str]:
        return self.members[0].targets

    def predict(self, sequences: Sequence[str] | pa.Array | pa.ChunkedArray,
                batch_size: int = 1024) -> np.ndarray:
        """The members' predictions (N, n_targets), averaged."""
        return np.mean([m.predict(sequences, batch_size) for m in self.members], axis=0)


def save_ensemble(ensemble_dir: str | Path, members: Sequence[str | Path],
                  info: dict[str, Any] | None = None) -> Path:
    """Write ensemble.json listing `members` (model directories inside `ensemble_dir`, stored
    relative to it) plus `info`; DataError when a member is not a model directory or the
    members predict different targets."""
    root = Path(ensemble_dir)
    outside = [str(m) for m in members if not Path(m).resolve().is_relative_to(root.resolve())]
    if outside:
        raise DataError(f"members not inside the ensemble directory: {', '.join(outside)}",
                        path=str(root / ENSEMBLE_FILE), field="members")
    names = [Path(m).resolve().relative_to(root.resolve()).as_posix() for m in members]
    if not names:
        raise DataError("an ensemble needs at least one member", path=str(root / ENSEMBLE_FILE))
    targets = [_read_json(root / name / META_FILE)["targets"] for name in names]
    if any(t != targets[0] for t in targets):
        raise DataError(f"members predict different targets: {targets}",
                        path=str(root / ENSEMBLE_FILE), field="members")
    doc = {**(info or {}), "format_version": ENSEMBLE_FORMAT, "combine": "mean",
           "members": names, "targets": targets[0],
           "created": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write_text(root / ENSEMBLE_FILE, json.dumps(doc, indent=2) + "\n")
    return root


def ensemble_members(ensemble_dir: str | Path) -> list[Path] | None:
    """The member directories of an ensemble directory (None: not an ensemble)."""
    path = Path(ensemble_dir) / ENSEMBLE_FILE
    if not path.is_file():
        return None
    doc = _read_json(path)
    if doc.get("format_version") != ENSEMBLE_FORMAT:
        raise DataError(f"unsupported format_version {doc.get('format_version')!r}",
                        path=str(path), field="format_version")
    members = doc.get("members")
    if not isinstance(members, list) or not members:
        raise DataError("expected a non-empty list of member directories", path=str(path),
                        field="members")
    return [Path(ensemble_dir) / str(m) for m in members]


def load_predictor(model_dir: str | Path,
                   device: str = "auto") -> Predictor | EnsemblePredictor:
    """A model directory's Predictor, or an ensemble directory's EnsemblePredictor."""
    members = ensemble_members(model_dir)
    if members is None:
        return load_model(model_dir, device)
    return EnsemblePredictor([load_model(m, device) for m in members])
