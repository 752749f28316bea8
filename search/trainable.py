"""The Ray Tune trainable: one trial = one Trainer, reported and checkpointed every epoch.

Lives in an importable module (not `__main__`) so that `Tuner.restore` can find it again. A
trial restores from `tune.get_checkpoint()` (model, optimizer, scheduler, RNG, epoch and the
best model so far), so a retried or resumed trial continues from its last finished epoch.
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# "N:E": test-only fault injection, trial number N (1-based, as in Ray's trial directory names)
# fails once before epoch E.
FAIL_ENV = "PRIXFIXE_FAIL_ONCE"
CHECKPOINT_FILE = "trainer.pt"
STATE_FILE = "state.json"
BEST_DIR = "best_model"
METRIC = "best_val_pearson"
MODE = "max"
# Numeric per-epoch results that go to MLflow, trials.json and the leaderboard.
EPOCH_METRICS: tuple[str, ...] = (
    "val_pearson", METRIC, "val_spearman", "val_mse", "train_loss", "train_loss_aux",
    "seqs_per_s", "lr",
)


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a search shares (the config holds only the sampled spec)."""

    data_dir: str
    epochs: int
    overrides: dict[str, Any] = field(default_factory=dict)
    val_folds: tuple[int, ...] = (0,)
    seed: int = 0
    device: str = "auto"
    marker_dir: str = ""
    fail_once: str = ""


@dataclass
class TrialState:
    """Bookkeeping carried in every checkpoint beside the Trainer's own state."""

    best_val_pearson: float = -1.0
    best_epoch: int = 0
    restored_epoch: int = 0

    def update(self, val_pearson: float, epoch: int) -> bool:
        """Record an epoch's validation Pearson; True when it is a new best."""
        if math.isfinite(val_pearson) and val_pearson > self.best_val_pearson:
            self.best_val_pearson, self.best_epoch = float(val_pearson), epoch
            return True
        return False


def trial_number(tag: str) -> int:
    """Tune's 1-based trial number from an experiment tag or a trial directory name.

    Tags look like `3_core=bhi,...`; directories like `train_trial_a1b2c3d4_3_core=bhi,...`.
    Returns -1 when there is none.
    """
    match = re.match(r"(?:.*?_[0-9a-f]{5,}_)?(\d+)(?:_|$)", tag)
    return int(match.group(1)) if match else -1


def maybe_inject_failure(settings: TrialSettings, index: int, next_epoch: int) -> None:
    """Raise once when `fail_once` names this trial index and epoch (marker file: only once)."""
    if not settings.fail_once:
        return
    want_trial, _, want_epoch = settings.fail_once.partition(":")
    if (int(want_trial), int(want_epoch)) != (index, next_epoch):
        return
    marker = Path(settings.marker_dir) / f"fault-injected-{index}-{next_epoch}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("injected\n")
    raise RuntimeError(f"injected failure ({FAIL_ENV}) in trial {index} before epoch {next_epoch}")


def train_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """Train one sampled configuration, reporting metrics and a checkpoint every epoch."""
    import ray
    from ray import tune

    from prixfixe_blocks.trainer import Trainer
    from spaces.base import config_to_spec

    context = tune.get_context()
    index = trial_number(Path(context.get_trial_dir() or "").name)
    spec = config_to_spec(config, settings.overrides)
    work = Path(tempfile.mkdtemp(prefix="prixfixe-trial-"))
    trainer = None
    try:
        trainer = Trainer(spec, settings.data_dir, val_folds=settings.val_folds,
                          seed=settings.seed, device=settings.device, log=lambda _msg: None)
        state = _restore(trainer, work)
        n_parameters = sum(p.numel() for p in trainer.model.parameters())
        node_id = ray.get_runtime_context().get_node_id()
        while trainer.epoch < settings.epochs:
            maybe_inject_failure(settings, index, trainer.epoch + 1)
            train = trainer.train_epoch()
            val = trainer.evaluate()
            if state.update(val["val_pearson"], trainer.epoch):
                trainer.export(work / BEST_DIR)
            metrics = {
                "epoch": trainer.epoch, **val, METRIC: state.best_val_pearson,
                "best_epoch": state.best_epoch, **train, "n_parameters": n_parameters,
                "node_id": node_id, "restored_epoch": state.restored_epoch,
            }
            with tempfile.TemporaryDirectory(prefix="prixfixe-ckpt-") as ckpt:
                _write_checkpoint(trainer, state, work, Path(ckpt))
                # Bookkeeping is done: tune.report may not return when ASHA stops the trial.
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(ckpt))
    finally:
        del trainer
        _release_memory()
        shutil.rmtree(work, ignore_errors=True)


def _restore(trainer: Any, work: Path) -> TrialState:
    """Load the latest Tune checkpoint if this trial has one (retry, resume, restore)."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return TrialState()
    with checkpoint.as_directory() as ckpt:
        ckpt_path = Path(ckpt)
        trainer.load_checkpoint(ckpt_path / CHECKPOINT_FILE)
        state = TrialState(**json.loads((ckpt_path / STATE_FILE).read_text()))
        if (ckpt_path / BEST_DIR).is_dir():
            shutil.copytree(ckpt_path / BEST_DIR, work / BEST_DIR, dirs_exist_ok=True)
    state.restored_epoch = trainer.epoch
    return state


def _write_checkpoint(trainer: Any, state: TrialState, work: Path, ckpt: Path) -> None:
    trainer.save_checkpoint(ckpt / CHECKPOINT_FILE)
    (ckpt / STATE_FILE).write_text(json.dumps(state.__dict__))
    if (work / BEST_DIR).is_dir():
        shutil.copytree(work / BEST_DIR, ckpt / BEST_DIR)


def _release_memory() -> None:
    """Free the trial's tensors (and cached GPU memory) before the worker takes the next one."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def fail_once_from_env() -> str:
    """The fault-injection setting of the driver's environment ("" when unset)."""
    return os.environ.get(FAIL_ENV, "")
