"""Files that hold tensors: model weights (safetensors, never unpickled) and training checkpoints.

A model directory's weights are a safetensors file: a JSON header plus raw tensor bytes, so
reading one cannot run code, whoever wrote it. `read_weights` is the one reader every model
directory goes through (`predict`, `evaluate`, `refit`, the logged MLflow model); it refuses
anything else, a pickle included, with a DataError naming the file.

Training checkpoints (`checkpoint.pt`: optimizer, scheduler and RNG states beside the weights)
stay torch.save files; they are read with `torch.load(weights_only=True)` only.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from prixfixe_blocks.atomic import atomic_write
from prixfixe_blocks.errors import DataError

WEIGHTS_FILE = "weights.safetensors"
# What a file that is not safetensors may be: the start of a pickle (protocol 2+) or of a
# torch.save archive (zip). Only used to word the error, never to decide what is read.
FOREIGN_STARTS = {b"\x80": "a pickle", b"PK": "a torch.save archive (pickled)"}


def write_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write a state dict as safetensors, atomically (each tensor copied to contiguous CPU
    memory, so tied or strided tensors are stored as plain arrays)."""
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on CPU; DataError for a missing file or anything
    that is not safetensors (nothing in it is executed)."""
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        with path.open("rb") as handle:
            start = handle.read(2)
        kind = next((what for magic, what in FOREIGN_STARTS.items()
                     if start.startswith(magic)), None)
        found = f"; it looks like {kind}, which is never loaded" if kind else ""
        raise DataError(f"not a safetensors weights file ({err}){found}: model weights are "
                        "read only as safetensors, so loading a model cannot run code",
                        path=str(path)) from None


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save atomically (temporary name, then rename): training checkpoints only."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch_file(path: Path, device: torch.device | str = "cpu") -> Any:
    """torch.load with weights_only=True (tensors and plain containers only); a missing or
    unreadable file is a DataError. For training checkpoints, never for model directories."""
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as err:
        raise DataError(f"cannot load: {err}", path=str(path)) from None
