"""Training one Prix Fixe model: build, train per epoch, validate, checkpoint, export.

`Trainer` is what `prixfixe-search train` and every Ray Tune trial drive (docs/ARCHITECTURE.md
section 3). A checkpoint holds model, optimizer, scheduler, RNG states and the epoch; it loads
with `torch.load(weights_only=True)` and a resumed run on CPU continues bit-for-bit.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prixfixe_blocks.encodings import (
    IGNORE_INDEX,
    Encoder,
    EncodingParams,
    encoding_params,
    make_encoder,
    shape_of,
)
from prixfixe_blocks.metrics import regression_metrics
from prixfixe_blocks.optim import make_optimization
from prixfixe_blocks.spec import ModelSpec
from search.errors import ConfigError

CHECKPOINT_FORMAT = 1
DEFAULT_LOG_EVERY = 200


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


def target_stats(meta: Any | None) -> list[tuple[float, float]] | None:
    """(mean, std) per target from a DatasetMeta (None when the dataset has no stats)."""
    if meta is None or not meta.target_stats:
        return None
    return [(float(meta.target_stats[t]["mean"]), float(meta.target_stats[t]["std"]))
            for t in meta.targets]


def compose_model(spec: ModelSpec, params: EncodingParams,
                  stats: list[tuple[float, float]] | None) -> nn.Module:
    """The PrixFixeModel for an encoding (used by training and by a saved model directory)."""
    from prixfixe_blocks.compose import compose

    return compose(spec, input_shape=shape_of(params), n_targets=max(1, len(params.targets)),
                   target_stats=stats)


def build_model(spec: ModelSpec, meta: Any | None) -> nn.Module:
    """The PrixFixeModel for a spec on a dataset (input shape, n_targets, stats from the meta)."""
    return compose_model(spec, encoding_params(spec.strategy, meta), target_stats(meta))


def _dummy_batch(params: EncodingParams, stats: list[tuple[float, float]] | None,
                 spec: ModelSpec) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    shape = shape_of(params)
    n_targets = max(1, len(params.targets))
    if shape.kind == "tokens":
        x = torch.randint(0, 4, (2, shape.length), generator=gen)
    else:
        x = torch.rand(2, shape.channels, shape.length, generator=gen)
    means = [m for m, _ in stats] if stats else [8.0] * n_targets
    batch = {"x": x, "y": torch.tensor([means, means], dtype=torch.float32)}
    if shape.kind == "tokens" and spec.strategy.mask_fraction > 0:
        labels = torch.full((2, shape.length), IGNORE_INDEX, dtype=torch.long)
        labels[:, ::7] = x[:, ::7]
        batch["mlm_labels"] = labels
    return batch


def check_spec(spec: ModelSpec, meta: Any | None = None) -> int:
    """Build the model and run forward+backward on a dummy batch of 2 on CPU.

    Returns the parameter count; raises ConfigError naming the blocks and encoding if the
    combination does not fit together.
    """
    params = encoding_params(spec.strategy, meta)
    stats = target_stats(meta)
    parts = (f"first '{spec.first.name}' + core '{spec.core.name}' + final "
             f"'{spec.final.name}' with encoding '{spec.strategy.encoding}' "
             f"(input {shape_of(params)}) and target '{spec.strategy.target}'")
    try:
        model = compose_model(spec, params, stats)
        model.train()
        loss, _ = model.training_step(_dummy_batch(params, stats, spec))
        loss.backward()
    except ConfigError:
        raise  # compose already names the block and the field
    except (RuntimeError, ValueError, TypeError, IndexError, KeyError) as err:
        raise ConfigError(f"{parts} do not fit together: {err}") from err
    return sum(p.numel() for p in model.parameters())


def _set_cpu_threads() -> None:
    """Cap torch's threads at the CPUs this process may use (containers, Ray CPU masks) unless
    OMP_NUM_THREADS says otherwise; a lower setting made by the caller is kept."""
    if "OMP_NUM_THREADS" not in os.environ and hasattr(os, "sched_getaffinity"):
        allowed = max(1, len(os.sched_getaffinity(0)))
        if torch.get_num_threads() > allowed:
            torch.set_num_threads(allowed)


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


def _to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, L) features stored length-major (the 1-D analogue of channels_last)."""
    return x.transpose(1, 2).contiguous().transpose(1, 2) if x.dim() == 3 else x


class Trainer:
    """Trains one spec on a dataset directory; validation on `val_folds`."""

    def __init__(self, spec: ModelSpec, data_dir: str | Path, *, val_folds: tuple[int, ...] = (0,),
                 seed: int = 0, device: str = "auto", log: Callable[[str], Any] = print,
                 amp: bool | None = None, compile: bool = False, channels_last: bool = False,
                 log_every: int = DEFAULT_LOG_EVERY) -> None:
        from search.data.loader import ShardLoader
        from search.data.schema import open_dataset

        self.spec, self.strategy = spec, spec.strategy
        self.data_dir, self.val_folds, self.seed = Path(data_dir), tuple(val_folds), seed
        self.log, self.log_every = log, log_every
        self.meta = open_dataset(self.data_dir)
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            _set_cpu_threads()
        self.amp = self.device.type == "cuda" if amp is None else bool(amp)
        self.channels_last = channels_last
        random.seed(seed)
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.encoder = make_encoder(self.strategy, self.meta)
        columns = ["sequence", *self.meta.targets]
        if self.encoder.params.has_singleton:
            columns.append("is_singleton")
        bs = int(self.strategy.batch_size)
        self.train_loader = ShardLoader(
            self.data_dir, batch_size=bs, exclude_folds=list(self.val_folds), columns=columns,
            seed=seed, shuffle=True, batches_per_epoch=self.strategy.batches_per_epoch,
        )
        self.val_loader = ShardLoader(self.data_dir, batch_size=bs, folds=list(self.val_folds),
                                      columns=columns, seed=seed, shuffle=False)
        if self.train_loader.n_rows == 0 or self.val_loader.n_rows == 0:
            raise ConfigError(f"validation folds {self.val_folds} leave no training or no "
                              f"validation rows in {self.data_dir}")
        self.model = build_model(spec, self.meta).to(self.device)
        self.total_steps = int(self.strategy.epochs) * len(self.train_loader)
        self.opt = make_optimization(self.strategy, self.model, self.total_steps)
        self._step_fn = (torch.compile(self.model.training_step) if compile
                         else self.model.training_step)
        self.epoch = 0

    # -- training ------------------------------------------------------------------------------
    def _train_step(self, inputs: dict[str, torch.Tensor]) -> tuple[float, float]:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in inputs.items()}
        if self.channels_last:
            batch["x"] = _to_channels_last(batch["x"])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, parts = self._step_fn(batch)
        self.opt.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step(self.model)
        return float(loss.detach()), float(parts.get("loss_aux", 0.0))

    def train_epoch(self) -> dict[str, float]:
        """One pass over the epoch's training batches; returns loss and throughput."""
        self.model.train()
        n_batches = len(self.train_loader)
        seen, loss_sum, aux_sum, steps = 0, 0.0, 0.0, 0
        start = time.perf_counter()
        for i, batch in enumerate(self.train_loader.epoch(self.epoch)):
            if batch.num_rows < 2:  # BatchNorm needs 2 rows; a 1-row tail batch is skipped
                continue
            loss, aux = self._train_step(self.encoder.training_batch(batch, self.rng))
            seen, steps = seen + batch.num_rows, steps + 1
            loss_sum, aux_sum = loss_sum + loss, aux_sum + aux
            if self.log_every and (i + 1) % self.log_every == 0 and i + 1 < n_batches:
                self.log(f"epoch {self.epoch + 1} batch {i + 1}/{n_batches} "
                         f"loss {loss_sum / steps:.4f}")
        elapsed = max(time.perf_counter() - start, 1e-9)
        self.epoch += 1
        result = {
            "train_loss": loss_sum / max(steps, 1),
            "train_loss_aux": aux_sum / max(steps, 1),
            "seqs_per_s": seen / elapsed,
            "lr": float(self.opt.optimizer.param_groups[0]["lr"]),
        }
        self.log(f"epoch {self.epoch}/{self.strategy.epochs} train_loss "
                 f"{result['train_loss']:.4f} ({result['seqs_per_s']:.0f} seq/s)")
        return result

    def predict_validation(self) -> tuple[np.ndarray, np.ndarray]:
        """(predictions, targets) on the validation folds, both strands averaged."""
        preds, trues = [], []
        for batch in self.val_loader.epoch(0):
            preds.append(predict_both_strands(self.model, self.encoder, batch.column("sequence"),
                                              self.device, self.amp))
            trues.append(self.encoder.targets(batch).numpy())
        return np.concatenate(preds), np.concatenate(trues)

    def evaluate(self) -> dict[str, float]:
        """Validation Pearson, Spearman and MSE (mean over targets)."""
        pred, true = self.predict_validation()
        result = regression_metrics(pred, true)
        self.log(f"epoch {self.epoch} val_pearson {result['val_pearson']:.4f} "
                 f"val_spearman {result['val_spearman']:.4f} val_mse {result['val_mse']:.4f}")
        return result

    # -- checkpoints and export ----------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> None:
        """Model, optimizer, scheduler, RNG states and epoch; written atomically."""
        from prixfixe_blocks.export import atomic_torch_save

        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []
        state = {
            "format": CHECKPOINT_FORMAT, "epoch": self.epoch, "batch": 0, "seed": self.seed,
            "spec": self.spec.to_json(),
            "model": self.model.state_dict(),
            "optimizer": self.opt.optimizer.state_dict(),
            "scheduler": self.opt.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "cuda": cuda,
                    "numpy": self.rng.bit_generator.state, "python": random.getstate()},
        }
        atomic_torch_save(state, Path(path))

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by `save_checkpoint` (same spec) to continue exactly."""
        from prixfixe_blocks.export import load_torch_file

        state = load_torch_file(Path(path), self.device)
        saved, current = json.loads(state["spec"]), json.loads(self.spec.to_json())
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if diff:
            raise ConfigError(f"{path}: checkpoint was written for another spec "
                              f"(differs in {', '.join(diff)})")
        if int(state["seed"]) != self.seed:
            raise ConfigError(f"{path}: checkpoint was written with seed {state['seed']}, this run "
                              f"has seed {self.seed} (the batch order would differ)")
        self.model.load_state_dict(state["model"])
        self.opt.optimizer.load_state_dict(state["optimizer"])
        self.opt.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self.rng.bit_generator.state = rng["numpy"]
        random.setstate(_as_tuple(rng["python"]))
        self.epoch = int(state["epoch"])

    def export(self, model_dir: str | Path) -> Path:
        """Write spec.json, weights and encoding/target meta: all that prediction needs."""
        from prixfixe_blocks.export import save_model

        return save_model(Path(model_dir), self.spec, self.encoder.params,
                          target_stats(self.meta), self.model)


def _as_tuple(value: Any) -> Any:
    """random.setstate needs tuples back (a checkpoint may hand lists)."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value
