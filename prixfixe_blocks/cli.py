"""Handlers of `prixfixe-search train`, `predict` and `presets` (parser in search/cli.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from prixfixe_blocks.spec import ModelSpec
from search.errors import ConfigError

CHECKPOINT_FILE = "checkpoint.pt"
RUN_FILE = "mlflow_run.json"
BEST_FILE = "best.json"  # epoch and val_pearson of the exported (best) weights


def _val_folds(text: str) -> tuple[int, ...]:
    try:
        folds = tuple(int(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise ConfigError(f"--val-folds: expected comma-separated integers, got '{text}'") from None
    if not folds:
        raise ConfigError("--val-folds: at least one fold is needed")
    return folds


def train_spec(args: argparse.Namespace) -> ModelSpec:
    """The preset with --set overrides, then --epochs / --batch-size / --batches-per-epoch."""
    from prixfixe_blocks.presets import get_preset

    spec = get_preset(args.preset).with_overrides(list(args.overrides))
    flags = {"strategy.epochs": args.epochs, "strategy.batch_size": args.batch_size,
             "strategy.batches_per_epoch": args.batches_per_epoch}
    return spec.with_overrides({k: v for k, v in flags.items() if v is not None})


def _run_id(out: Path, resume: bool) -> str | None:
    path = out / RUN_FILE
    if resume and path.is_file():
        return str(json.loads(path.read_text())["run_id"])
    return None


def cli_train(args: argparse.Namespace) -> int:
    """Train a preset (or any combination), log to MLflow, checkpoint each epoch, export."""
    import mlflow

    from prixfixe_blocks.trainer import Trainer
    from search.atomic import atomic_write_text
    from search.mlflow_utils import (
        ensure_experiment,
        flat_params,
        resolve_tracking_uri,
        ui_command,
    )

    spec = train_spec(args)
    out = Path(args.out)
    trainer = Trainer(spec, args.data, val_folds=_val_folds(args.val_folds), seed=args.seed,
                      device=args.device)
    ckpt = out / CHECKPOINT_FILE
    resumed = bool(args.resume and ckpt.is_file())
    if resumed:
        trainer.load_checkpoint(ckpt)
        print(f"resumed from {ckpt} after epoch {trainer.epoch}")
    uri = resolve_tracking_uri(args.tracking_uri, out.resolve().parent)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(uri, args.experiment))
    with mlflow.start_run(run_id=_run_id(out, resumed), run_name=out.name) as run:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / RUN_FILE, json.dumps({"run_id": run.info.run_id}) + "\n")
        if not resumed:
            mlflow.log_params({**flat_params(spec), "data": str(args.data),
                               "val_folds": args.val_folds, "seed": str(args.seed)})
        best = _train_loop(trainer, ckpt, out)
        mlflow.log_metric("n_parameters", sum(p.numel() for p in trainer.model.parameters()))
    print(f"model written to {out} (best epoch {best['epoch']}, "
          f"val_pearson {best['val_pearson']:.4f})")
    print(f"MLflow run {run.info.run_id}; to browse: {ui_command(uri)}")
    return 0


def _train_loop(trainer: Any, ckpt: Path, out: Path) -> dict[str, Any]:
    """Epochs until the strategy's count, logging metrics and checkpointing after each; the
    model directory always holds the best epoch so far by validation Pearson (kept on resume)."""
    import math

    import mlflow

    from search.atomic import atomic_write_text

    best_file = out / BEST_FILE
    best = json.loads(best_file.read_text()) if best_file.is_file() else {
        "epoch": 0, "val_pearson": -math.inf}
    while trainer.epoch < trainer.strategy.epochs:
        metrics = {**trainer.train_epoch(), **trainer.evaluate()}
        score = metrics["val_pearson"]
        if math.isfinite(score) and (score > best["val_pearson"] or best["epoch"] == 0):
            trainer.export(out)
            best = {"epoch": trainer.epoch, "val_pearson": score}
            atomic_write_text(best_file, json.dumps(best) + "\n")
        mlflow.log_metrics({**metrics, "best_val_pearson": best["val_pearson"]},
                           step=trainer.epoch)
        trainer.save_checkpoint(ckpt)
    if best["epoch"] == 0:  # no finite validation score: keep the last weights
        trainer.export(out)
        best = {"epoch": trainer.epoch, "val_pearson": math.nan}
    return best


def cli_predict(args: argparse.Namespace) -> int:
    """Predict each input sequence (both strands averaged) and write a TSV in input order."""
    from prixfixe_blocks.export import load_predictor
    from prixfixe_blocks.seqio import read_sequences, write_predictions

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {args.batch_size}")
    seqs = read_sequences(args.input)
    predictor = load_predictor(args.model, device=args.device)
    preds = predictor.predict(seqs, batch_size=args.batch_size)
    write_predictions(args.out, seqs, preds, predictor.targets)
    print(f"{len(seqs)} predictions written to {args.out}")
    return 0


def presets_text() -> str:
    """Presets with parameter counts (DREAM input), blocks per role, strategy components."""
    from prixfixe_blocks.compose import count_parameters
    from prixfixe_blocks.presets import get_preset, preset_names
    from prixfixe_blocks.registry import block_names, get_block, strategy_choices
    from prixfixe_blocks.spec import ROLES
    from prixfixe_blocks.trainer import build_model

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
    for key, options in strategy_choices().items():
        lines.append(f"  {key:<10} {', '.join(options)}")
    return "\n".join(lines)


def cli_presets(args: argparse.Namespace) -> int:
    """List presets (with parameter counts), blocks and strategy components."""
    print(presets_text())
    return 0
