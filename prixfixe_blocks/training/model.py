"""Building and running a model for a strategy on a dataset (shared by training and export).

`build_model` composes the blocks for the dataset's input shape, targets and label statistics;
`check_spec` proves a combination trains one step before anything is launched; and
`predict_both_strands` is the one place predictions are made (forward and reverse-complement
strands averaged).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from prixfixe_blocks.blocks.compose import compose, count_parameters, example_batch
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.shapes import TOKENS
from prixfixe_blocks.spec import ModelSpec
from prixfixe_blocks.strategies.input_encodings import (
    Encoder,
    EncodingParams,
    encoding_params,
    input_shape,
)
from prixfixe_blocks.strategies.targets import N_BINS


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> CUDA when present, else CPU; "cuda" without a GPU is a ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but no CUDA GPU is available")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"unknown device '{device}' (auto|cpu|cuda)") from err


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch CPU threads (restored after): checks and timings use the
    threads a trial would get, not the whole machine's."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


BIN_SCALE_MAX = float(N_BINS - 1)  # labels on softbin's scale run from bin 0 to bin 17


def target_stats(meta: Any | None) -> list[tuple[float, ...]] | None:
    """(mean, std, min, max) per target from a DatasetMeta (None when it has no stats).

    The range is what puts softbin's bins on the labels as published: labels already on the
    bin scale (within [0, 17], like DREAM's mean-bin labels) keep it (the identity); others map
    their observed [min, max] onto it. Stats without a range give (mean, std).
    """
    if meta is None or not meta.target_stats:
        return None
    return [_stats(meta.target_stats[t]) for t in meta.targets]


def _stats(entry: dict[str, float]) -> tuple[float, ...]:
    base = (float(entry["mean"]), float(entry["std"]))
    if "min" not in entry or "max" not in entry or not float(entry["max"]) > float(entry["min"]):
        return base
    low, high = float(entry["min"]), float(entry["max"])
    if 0.0 <= low and high <= BIN_SCALE_MAX:
        return (*base, 0.0, BIN_SCALE_MAX)
    return (*base, low, high)


def compose_model(spec: ModelSpec, params: EncodingParams,
                  stats: list[tuple[float, ...]] | None) -> nn.Module:
    """The PrixFixeModel for an encoding (used by training and by a saved model directory)."""
    return compose(spec, input_shape=input_shape(params), n_targets=max(1, len(params.targets)),
                   target_stats=stats)


def build_model(spec: ModelSpec, meta: Any | None) -> nn.Module:
    """The PrixFixeModel for a spec on a dataset (input shape, n_targets, stats from the meta)."""
    return compose_model(spec, encoding_params(spec.strategy, meta), target_stats(meta))


def check_spec(spec: ModelSpec, meta: Any | None = None) -> int:
    """Build the model and run forward+backward on a dummy batch of 2 on CPU.

    Returns the parameter count; raises ConfigError naming the blocks and encoding if the
    combination does not fit together.
    """
    params = encoding_params(spec.strategy, meta)
    stats = target_stats(meta)
    parts = (f"first '{spec.first.name}' + core '{spec.core.name}' + final "
             f"'{spec.final.name}' with encoding '{spec.strategy.encoding}' "
             f"(input {input_shape(params).describe()}) and target '{spec.strategy.target}'")
    try:
        model = compose_model(spec, params, stats)
        model.train()
        mask = spec.strategy.mask_fraction if model.input_shape.kind == TOKENS else 0.0
        batch = example_batch(model.input_shape, model.n_targets, mask_fraction=mask)
        loss, _ = model.training_step(batch)
        loss.backward()
    except ConfigError:
        raise  # compose already names the block and the field
    except (RuntimeError, ValueError, TypeError, IndexError, KeyError) as err:
        raise ConfigError(f"{parts} do not fit together: {err}") from err
    return count_parameters(model)


@torch.no_grad()
def predict_both_strands(model: nn.Module, encoder: Encoder, seqs: Any,
                         device: torch.device, amp: bool = False) -> np.ndarray:
    """Predictions (B, n_targets) averaged over the forward and reverse-complement strands."""
    model.eval()
    out = []
    for reverse in (False, True):
        batch = encoder.encode_sequences(seqs, train=False, reverse=reverse)
        x = batch["x"].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out.append(model({"x": x}).float())
    return ((out[0] + out[1]) / 2).cpu().numpy()


