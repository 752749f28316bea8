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

from prixfixe_blocks.data.format.dataset import Dataset
from prixfixe_blocks.data.format.splits import FIT, TRAIN, VAL
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.store.location import normalize
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.spec import ModelSpec
from prixfixe_blocks.strategies.input_encodings import make_encoder
from prixfixe_blocks.strategies.optim import make_optimization
from prixfixe_blocks.training.export import TrainedOn, save_model
from prixfixe_blocks.training.metrics import regression_metrics
from prixfixe_blocks.training.model import (
    build_model,
    predict_both_strands,
    resolve_device,
    target_stats,
)
from prixfixe_blocks.training.plan import make_plan
from prixfixe_blocks.training.weights import atomic_torch_save, load_torch_file

CHECKPOINT_FORMAT = 1
DEFAULT_LOG_EVERY = 200
TRAINED_PARTS = (TRAIN, FIT)  # TRAIN: validated on VAL; FIT (train + val): not validated
NO_VALIDATION = "none (trained on train + val)"
LABEL_BATCH = 1 << 16  # rows per read when collecting the training labels
HEAD_SAMPLE_ROWS = 64  # training rows the head's starting offset is measured on


def _set_cpu_threads() -> None:
    """Cap torch's threads at the CPUs this process may use (containers, Ray CPU masks) unless
    OMP_NUM_THREADS says otherwise; a lower setting made by the caller is kept."""
    if "OMP_NUM_THREADS" not in os.environ and hasattr(os, "sched_getaffinity"):
        allowed = max(1, len(os.sched_getaffinity(0)))
        if torch.get_num_threads() > allowed:
            torch.set_num_threads(allowed)


def _to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, L) features stored length-major (the 1-D analogue of channels_last)."""
    return x.transpose(1, 2).contiguous().transpose(1, 2) if x.dim() == 3 else x


class Trainer:
    """Trains one spec on a dataset directory's train rows and validates on its val rows
    (`prixfixe_blocks.data.format.splits`: the val split if there is one, else the hash folds
    `val_folds`); test rows are never read.

    `part=FIT` trains on train + val (a refit of a chosen configuration) and validates on
    nothing: `validates` is False, `evaluate` is not available and `fit` exports the last epoch.
    """

    def __init__(self, spec: ModelSpec, data_dir: str | Path | Dataset, *,
                 val_folds: tuple[int, ...] = (0,), part: str = TRAIN, seed: int = 0,
                 device: str = "auto", log: Callable[[str], Any] = print,
                 amp: bool | None = None, compile: bool = False, channels_last: bool = False,
                 log_every: int = DEFAULT_LOG_EVERY,
                 on_batch: Callable[[int, int, int], Any] | None = None) -> None:
        self.spec, self.strategy = spec, spec.strategy
        self.dataset = Dataset.open(data_dir)  # opened once; every loader below shares it
        self.data_dir, self.val_folds, self.seed = self.dataset.location, tuple(val_folds), seed
        self.log, self.log_every, self.on_batch = log, log_every, on_batch
        self.meta = self.dataset.meta
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
        if part not in TRAINED_PARTS:
            raise ConfigError(f"a Trainer trains on {' or '.join(TRAINED_PARTS)} rows, not "
                              f"'{part}'")
        self.part, self.validates = part, part == TRAIN
        bs = int(self.strategy.batch_size)
        train = self.dataset.select(part, self.val_folds)
        self.train_rows = train  # the head's start reads these rows too, never others
        self.train_loader = ShardLoader(
            self.dataset, batch_size=bs, **train.loader_kwargs(), columns=columns, seed=seed,
            shuffle=True, batches_per_epoch=self.strategy.batches_per_epoch,
        )
        loaders = [(train, self.train_loader)]
        self.val_loader: ShardLoader | None = None
        self.validation = NO_VALIDATION
        if self.validates:
            val = self.dataset.select(VAL, self.val_folds)
            self.validation = val.describe()
            self.val_loader = ShardLoader(self.dataset, batch_size=bs, **val.loader_kwargs(),
                                          columns=columns, seed=seed, shuffle=False)
            loaders.append((val, self.val_loader))
        for selection, loader in loaders:
            if loader.n_rows == 0:
                raise ConfigError(f"no {selection.part} rows ({selection.describe()}) in "
                                  f"{self.data_dir}")
        self.model = build_model(spec, self.meta).to(self.device)
        if not self.model.init_head(self._training_labels(), self._head_sample()):
            self.log(f"final block '{spec.final.name}' has no output bias to start at the label "
                     "distribution; its head starts as built")
        self.plan = make_plan(self.train_loader.n_rows, bs, self.strategy.batches_per_epoch,
                              int(self.strategy.epochs))
        self.total_steps = self.plan.epochs * self.plan.batches
        self.opt = make_optimization(self.strategy, self.model, self.total_steps)
        self._step_fn = (torch.compile(self.model.training_step) if compile
                         else self.model.training_step)
        self.epoch = 0

    def _training_labels(self) -> torch.Tensor:
        """Every training row's labels (rows, n_targets; the rows `train_loader` reads, never
        validation or test rows): what the head starts from."""
        loader = ShardLoader(self.dataset, batch_size=LABEL_BATCH,
                             **self.train_rows.loader_kwargs(), columns=list(self.meta.targets),
                             shuffle=False)
        return torch.cat([self.encoder.targets(batch) for batch in loader.epoch(0)])

    def _head_sample(self) -> torch.Tensor | None:
        """Inputs of HEAD_SAMPLE_ROWS training rows (forward strand): what the head's start is
        measured on (None below 2 rows, which training-mode BatchNorm cannot take)."""
        loader = ShardLoader(self.dataset, batch_size=HEAD_SAMPLE_ROWS,
                             **self.train_rows.loader_kwargs(), columns=["sequence"],
                             seed=self.seed)
        rows = next(iter(loader.epoch(0))).column("sequence")
        if len(rows) < 2:
            return None
        return self.encoder.encode_sequences(rows, train=False)["x"].to(self.device)

    # -- training ------------------------------------------------------------------------------
    def _train_step(self, inputs: dict[str, torch.Tensor]) -> tuple[float, float | None]:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in inputs.items()}
        if self.channels_last:
            batch["x"] = _to_channels_last(batch["x"])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, parts = self._step_fn(batch)
        self.opt.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step(self.model)
        return float(loss.detach()), parts.get("loss_aux")

    def train_epoch(self) -> dict[str, float]:
        """One pass over the epoch's training batches; returns loss and throughput."""
        self.model.train()
        n_batches = len(self.train_loader)
        seen, loss_sum, aux_sum, steps, aux_steps = 0, 0.0, 0.0, 0, 0
        start = time.perf_counter()
        if self.on_batch is not None:
            self.on_batch(self.epoch + 1, 0, 0)
        for i, batch in enumerate(self.train_loader.epoch(self.epoch)):
            if batch.num_rows < 2:  # BatchNorm needs 2 rows; a 1-row tail batch is skipped
                continue
            loss, aux = self._train_step(self.encoder.training_batch(batch, self.rng))
            seen, steps = seen + batch.num_rows, steps + 1
            loss_sum += loss
            if aux is not None:
                aux_sum, aux_steps = aux_sum + aux, aux_steps + 1
            if self.on_batch is not None:
                self.on_batch(self.epoch + 1, i + 1, seen)
            if self.log_every and (i + 1) % self.log_every == 0 and i + 1 < n_batches:
                self.log(f"epoch {self.epoch + 1} batch {i + 1}/{n_batches} "
                         f"loss {loss_sum / steps:.4f}")
        elapsed = max(time.perf_counter() - start, 1e-9)
        self.epoch += 1
        result = {
            "train_loss": loss_sum / max(steps, 1),
            "seqs_per_s": seen / elapsed,
            "lr": float(self.opt.optimizer.param_groups[0]["lr"]),
        }
        if aux_steps:  # no constant 0 for models without an auxiliary loss
            result["train_loss_aux"] = aux_sum / aux_steps
        self.log(f"epoch {self.epoch}/{self.strategy.epochs} train_loss "
                 f"{result['train_loss']:.4f} ({result['seqs_per_s']:.0f} seq/s)")
        return result

    def time_steps(self, steps: int = 1, warmup: bool = True) -> tuple[float, float]:
        """Seconds per training sequence (the median over `steps` batches, each timed alone,
        after one untimed warm-up batch if `warmup`: one slow batch on a busy machine does
        not decide) and per predicted sequence (both strands, one batch): what cost
        estimates scale. Trains the model, so time on a throwaway Trainer."""
        self.model.train()
        batches = self.train_loader.epoch(0)
        if warmup:
            self._train_step(self.encoder.training_batch(next(batches), self.rng))
        per_sequence = []
        for _, batch in zip(range(steps), batches, strict=False):
            start = time.perf_counter()
            self._train_step(self.encoder.training_batch(batch, self.rng))
            per_sequence.append((time.perf_counter() - start) / max(batch.num_rows, 1))
        train = float(np.median(per_sequence)) if per_sequence else 0.0
        loader = self.val_loader or self.train_loader  # a refit has no validation rows
        rows = next(iter(loader.epoch(0))).column("sequence")
        start = time.perf_counter()
        predict_both_strands(self.model, self.encoder, rows, self.device, self.amp)
        return train, (time.perf_counter() - start) / max(len(rows), 1)

    def predict_validation(self) -> tuple[np.ndarray, np.ndarray]:
        """(predictions, targets) on the validation folds, both strands averaged."""
        if self.val_loader is None:
            raise ConfigError(f"this Trainer has no validation rows (it trains on {self.part})")
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
        return save_model(Path(model_dir), self.spec, self.encoder.params,
                          target_stats(self.meta), self.model,
                          TrainedOn(normalize(self.data_dir), self.val_folds))


def _as_tuple(value: Any) -> Any:
    """random.setstate needs tuples back (a checkpoint may hand lists)."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value
