"""The Ray Tune trainable: one trial = one Trainer in the fit loop, reported and checkpointed
every epoch.

Lives in an importable module (not `__main__`) so that `Tuner.restore` can find it again. A
trial restores from `tune.get_checkpoint()` (model, optimizer, scheduler, RNG, epoch and the
best model so far with its best.json), so a retried or resumed trial continues from its last
finished epoch.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.data.format.dataset import Dataset, check_dataset
from prixfixe_blocks.data.format.splits import FIT, TRAIN
from prixfixe_blocks.errors import DivergedError
from prixfixe_blocks.plugins import load_plugins
from prixfixe_blocks.training.fit import BEST_METRIC, NO_SCORE, Best, fit
from prixfixe_blocks.training.trainer import Trainer
from search.experiment import BEST_MODEL_DIR
from spaces.base import config_to_spec

# "N:E": test-only fault injection, trial number N (1-based, as in Ray's trial directory names)
# fails once before epoch E.
FAIL_ENV = "PRIXFIXE_FAIL_ONCE"
CHECKPOINT_FILE = "trainer.pt"
METRIC = BEST_METRIC
MODE = "max"
PARAMS = "n_parameters"  # every result's parameter count (the second objective of --objective)
# A diverged trial's last result: its reason, the score floor and no epoch (ASHA's rungs and the
# searcher's intermediate values skip a result without one). It ends FAILED once instead of
# being retried: the same seed diverges again.
DIVERGED = "diverged"
REFIT_CONFIG, REFIT_SEED = "config", "seed"  # a refit trial's config: which one, which seed
# No actor reuse for this function trainable. Before reusing an actor Ray waits
# TUNE_FUNCTION_THREAD_TIMEOUT_S (2 s) for the stopped trial's thread to end; a trial stopped
# while it frees a large model (or busy on a loaded node) takes longer, the reset returns False
# and Ray aborts the NEXT trial ("Could not re-use actor"), telling neither the searcher nor
# the callbacks: 2 of 16 trials were lost so. A fresh actor per trial costs about 1 s.
REUSE_ACTORS = False


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
    plugins: tuple[str, ...] = ()
    data_checksum: str = ""  # what the driver recorded; "" skips the check
    part: str = TRAIN  # TRAIN (validated on VAL) or FIT (a refit on train + val)


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
    load_plugins(settings.plugins)
    context = tune.get_context()
    index = trial_number(Path(context.get_trial_dir() or "").name)
    spec = config_to_spec(config, settings.overrides)
    work = Path(tempfile.mkdtemp(prefix="prixfixe-trial-"))
    trainer = None
    try:
        # opened once here (this node's view of the data must be the driver's) and handed on
        dataset = (check_dataset(settings.data_dir, settings.data_checksum)
                   if settings.data_checksum else Dataset.open(settings.data_dir))
        trainer = Trainer(spec, dataset, val_folds=settings.val_folds,
                          part=settings.part, seed=settings.seed, device=settings.device,
                          log=lambda _msg: None)
        restored = _restore(trainer, work)
        extra = {PARAMS: count_parameters(trainer.model), "restored_epoch": restored,
                 "train_rows": trainer.train_loader.n_rows,
                 "node_id": ray.get_runtime_context().get_node_id(),
                 "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}

        def report(metrics: dict[str, Any], best: Best) -> None:
            with tempfile.TemporaryDirectory(prefix="prixfixe-ckpt-") as ckpt:
                trainer.save_checkpoint(Path(ckpt) / CHECKPOINT_FILE)
                if (work / BEST_MODEL_DIR).is_dir():
                    shutil.copytree(work / BEST_MODEL_DIR, Path(ckpt) / BEST_MODEL_DIR)
                tune.report({**metrics, **extra},
                            checkpoint=tune.Checkpoint.from_directory(ckpt))

        try:
            fit(trainer, work / BEST_MODEL_DIR, epochs=settings.epochs, on_epoch=report,
                before_epoch=lambda epoch: maybe_inject_failure(settings, index, epoch))
        except DivergedError as err:  # deterministic: a retry would diverge again
            # Tune requires the metric in every result; no `epoch`, so ASHA's rungs skip it.
            tune.report({DIVERGED: str(err), METRIC: NO_SCORE, **extra})
    finally:
        trainer = None  # noqa: F841 (frees the model before the next trial)
        _release_memory()
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class RefitSettings:
    """A refit's trials: the search's trial settings and, per chosen configuration, its
    config and the epoch count it reached its best at."""

    base: TrialSettings
    configs: tuple[dict[str, Any], ...]
    epochs: tuple[int, ...]


def refit_trial(config: dict[str, Any], settings: RefitSettings) -> None:
    """Retrain configuration `config[REFIT_CONFIG]` with seed `config[REFIT_SEED]` on train +
    val (no validation) for its epoch count; the last epoch is the trial's model."""
    index = int(config[REFIT_CONFIG])
    train_trial(settings.configs[index], replace(
        settings.base, epochs=settings.epochs[index], seed=int(config[REFIT_SEED]), part=FIT))


def _restore(trainer: Trainer, work: Path) -> int:
    """Load the latest Tune checkpoint if this trial has one (retry, resume, restore); returns
    the epoch it restored (0: a fresh start)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as ckpt:
        trainer.load_checkpoint(Path(ckpt) / CHECKPOINT_FILE)
        if (Path(ckpt) / BEST_MODEL_DIR).is_dir():
            shutil.copytree(Path(ckpt) / BEST_MODEL_DIR, work / BEST_MODEL_DIR,
                            dirs_exist_ok=True)
    return trainer.epoch


def _release_memory() -> None:
    """Free the trial's tensors (and cached GPU memory) before the worker takes the next one."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def fail_once_from_env() -> str:
    """The fault-injection setting of the driver's environment ("" when unset)."""
    return os.environ.get(FAIL_ENV, "")
