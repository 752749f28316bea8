"""Handlers of `prixfixe-search train`, `predict` and `presets` (parser in search/cli.py)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import mlflow
import torch

from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.blocks.registry import block_names, get_block
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.ensemble import load_any_predictor
from prixfixe_blocks.plugins import load_plugins
from prixfixe_blocks.presets import get_preset, preset_names, with_width
from prixfixe_blocks.spec import ROLES, ModelSpec
from prixfixe_blocks.strategies.components import COMPONENTS
from prixfixe_blocks.strategies.strategy_spec import KINDS, schedule_overrides
from prixfixe_blocks.training.fit import Best, fit
from prixfixe_blocks.training.model import build_model
from prixfixe_blocks.training.plan import MIN_STEPS_PER_PASS, batch_for_rows, make_plan
from prixfixe_blocks.training.progress import Progress
from prixfixe_blocks.training.seqio import read_sequences, write_predictions
from prixfixe_blocks.training.trainer import Trainer
from search.record.mlflow_utils import (
    ensure_experiment,
    flat_params,
    read_run_record,
    resolve_tracking_uri,
    ui_command,
    write_run_record,
)
from search.run.budget import parse_duration
from search.run.estimate import CPU_RATE_BATCH, row_counts, time_model

CHECKPOINT_FILE = "checkpoint.pt"
BUDGET_TIMED_STEPS = 3  # `train --time-budget`: the median of 3 timed batches sets the epochs
BUDGET_USABLE = 0.9  # of what is left after timing: epochs (validation, export, MLflow add a bit)


def _val_folds(text: str) -> tuple[int, ...]:
    try:
        folds = tuple(int(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise ConfigError(f"--val-folds: expected comma-separated integers, got '{text}'") from None
    if not folds:
        raise ConfigError("--val-folds: at least one fold is needed")
    return folds


def train_spec(args: argparse.Namespace) -> ModelSpec:
    """The preset with --set overrides at --width (the search's widths; a --set value wins
    over the width's), then --epochs / --batch-size, then the epoch length:
    --batches-per-epoch, else --schedule (one pass by default, or the preset's published one).
    """
    overrides = list(args.overrides)
    spec = get_preset(args.preset).with_overrides(overrides)
    spec = with_width(spec, args.width).with_overrides(overrides)
    flags = {"strategy.epochs": args.epochs, "strategy.batch_size": args.batch_size}
    spec = spec.with_overrides({k: v for k, v in flags.items() if v is not None})
    return spec.with_overrides(schedule_overrides(args.schedule, args.batches_per_epoch))


def budget_epochs(spec: ModelSpec, args: argparse.Namespace) -> ModelSpec:
    """`spec` with as many epochs as `--time-budget` affords here (at most its own count), at
    the batch `batch_for_rows` fits to the rows unless --batch-size: the median of
    BUDGET_TIMED_STEPS warm batches is timed on the real data, and the plan is printed before
    training starts. The epoch count is fixed up front because the
    learning-rate schedules span the whole run."""
    start, budget = time.perf_counter(), parse_duration(args.time_budget)
    if budget <= 0:
        raise ConfigError(f"--time-budget must be positive, got {args.time_budget}")
    folds = _val_folds(args.val_folds)
    n_train, n_val = row_counts(args.data, folds)
    fitted = batch_for_rows(n_train, int(spec.strategy.batch_size))
    if args.batch_size is None and fitted < spec.strategy.batch_size:
        spec = spec.with_overrides({"strategy.batch_size": fitted})
        print(f"batch size {spec.strategy.batch_size}: {n_train:,} training rows give a pass "
              f"of at least {MIN_STEPS_PER_PASS} steps (--batch-size N to choose)", flush=True)
    strategy = spec.strategy
    device = "cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu"
    batch = int(strategy.batch_size) if device == "cuda" else min(int(strategy.batch_size),
                                                                  CPU_RATE_BATCH)
    train_s, predict_s, build_s = time_model(spec, args.data, folds, args.seed, device,
                                             torch.get_num_threads(), batch=batch, warmup=True,
                                             steps=BUDGET_TIMED_STEPS)
    sequences = make_plan(n_train, int(strategy.batch_size), strategy.batches_per_epoch,
                          1).sequences
    epoch_s = sequences * train_s + n_val * predict_s
    usable = (budget - (time.perf_counter() - start) - build_s) * BUDGET_USABLE
    epochs = max(1, min(int(strategy.epochs), math.floor(usable / max(epoch_s, 1e-9))))
    print(f"time budget {budget:.0f} s: one epoch ~{epoch_s:.1f} s here (timed on a batch of "
          f"{batch}), so {epochs} epochs (at most {strategy.epochs}); expected "
          f"~{build_s + epochs * epoch_s:.0f} s", flush=True)
    if usable < epoch_s:
        print("warning: one epoch does not fit in the budget; training one anyway",
              flush=True)
    return spec.with_overrides({"strategy.epochs": epochs})


def _run_id(out: Path, resume: bool) -> str | None:
    record = read_run_record(out) if resume else None
    return record[0] if record else None


def cli_train(args: argparse.Namespace) -> int:
    """Train a preset (or any combination), log to MLflow, checkpoint each epoch, export."""
    load_plugins(args.plugins)
    spec = train_spec(args)
    out = Path(args.out)
    if args.time_budget is not None:
        if args.resume and (out / CHECKPOINT_FILE).is_file():
            raise ConfigError(f"--resume with --time-budget: {out / CHECKPOINT_FILE} keeps the "
                              "epochs planned at the start; resume with --epochs N (N from "
                              "that run's plan line) instead of --time-budget")
        spec = budget_epochs(spec, args)
    trainer = Trainer(spec, args.data, val_folds=_val_folds(args.val_folds), seed=args.seed,
                      device=args.device, log_every=0)
    ckpt = out / CHECKPOINT_FILE
    resumed = bool(args.resume and ckpt.is_file())
    if resumed:
        trainer.load_checkpoint(ckpt)
        print(f"resumed from {ckpt} after epoch {trainer.epoch}")
    print(f"plan: {trainer.plan.describe()} on {trainer.device.type}", flush=True)
    progress = Progress(trainer.plan, start_epoch=trainer.epoch)
    trainer.log, trainer.on_batch = progress.log, progress.batch
    uri = resolve_tracking_uri(args.tracking_uri, out.resolve().parent)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(uri, args.experiment))
    with mlflow.start_run(run_id=_run_id(out, resumed), run_name=out.name) as run:
        out.mkdir(parents=True, exist_ok=True)
        write_run_record(out, run.info.run_id, uri)
        if not resumed:
            mlflow.log_params({**flat_params(spec), "data": str(args.data),
                               "val_folds": args.val_folds, "validation": trainer.validation,
                               "seed": str(args.seed)})
        best = _train_loop(trainer, ckpt, out)
        mlflow.log_metric("n_parameters", count_parameters(trainer.model))
    score = f"val_pearson {best.val_pearson:.4f}" if best.epoch else "no finite val_pearson"
    print(f"model written to {out} (best epoch {best.epoch}, {score})")
    print(f"MLflow run {run.info.run_id}; to browse: {ui_command(uri)}")
    return 0


def _train_loop(trainer: Trainer, ckpt: Path, out: Path) -> Best:
    """The fit loop with MLflow metrics and a checkpoint after every epoch; the model directory
    always holds the best epoch so far by validation Pearson (kept on resume)."""

    def after_epoch(metrics: dict[str, Any], best: Best) -> None:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if k != "epoch"},
                           step=trainer.epoch)
        trainer.save_checkpoint(ckpt)

    return fit(trainer, out, epochs=trainer.strategy.epochs, on_epoch=after_epoch)


def cli_predict(args: argparse.Namespace) -> int:
    """Predict each input sequence (both strands averaged) and write a TSV in input order."""
    load_plugins(args.plugins)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {args.batch_size}")
    seqs = read_sequences(args.input)
    predictor = load_any_predictor(args.model, device=args.device)
    preds = predictor.predict(seqs, batch_size=args.batch_size)
    write_predictions(args.out, seqs, preds, predictor.targets)
    print(f"{len(seqs)} predictions written to {args.out}")
    return 0


def presets_text() -> str:
    """Presets with parameter counts (DREAM input), blocks per role, strategy components."""
    lines = ["presets (parameters on DREAM input):"]
    for name in preset_names():
        spec = get_preset(name)
        n = count_parameters(build_model(spec, None))
        parts = " + ".join(spec.block(role).name for role in ROLES)
        lines.append(f"  {name:<14} {n:>12,}  {parts} ({spec.strategy.encoding} strategy)")
    lines.append("blocks:")
    for role in ROLES:
        for block in block_names(role):
            lines.append(f"  {role:<6} {block:<12} {get_block(role, block).doc}")
    lines.append("strategy components:")
    for kind in KINDS:
        lines.append(f"  {kind:<10} {', '.join(COMPONENTS[kind].names())}")
    return "\n".join(lines)


def cli_presets(args: argparse.Namespace) -> int:
    """List presets (with parameter counts), blocks and strategy components."""
    print(presets_text())
    return 0
