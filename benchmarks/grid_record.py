"""Recording the tabular benchmark's curve table: train every cell of `prixfixe-grid` once.

Each configuration is trained for a fixed number of epochs (in this process, one after
another; resumable: configurations already in the table are skipped) and each epoch's
validation r, test r (the dataset's `test` split; stored for judging a pick, never used to
choose), epoch seconds and parameter count are written to a Parquet table (`replay_table`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.replay_table import config_key, write_table
from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.data.format.splits import TEST
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.data.write.resplit import split_dataset
from prixfixe_blocks.training.fit import fit
from prixfixe_blocks.training.metrics import regression_metrics
from prixfixe_blocks.training.model import predict_both_strands
from prixfixe_blocks.training.trainer import Trainer
from search.record.lineage import code_version
from spaces import config_to_spec, grid_size, grid_space, load_space, parse_fixes, sample_configs

SPACE = "prixfixe-grid"
TEST_BATCH = 1024  # rows per forward pass when scoring the test split (batch 32 costs ~40%)


def record(args: argparse.Namespace) -> None:
    """Train the whole grid and write (or extend) the curve table."""
    out = Path(args.out)
    space = load_space(SPACE, width=args.width, fixed=parse_fixes(args.fix))
    configs = sample_configs(space, grid_size(space), grid=True)
    dims = tuple(grid_space(space))
    rows = read_rows(out)
    done = {r["key"] for r in rows}
    with tempfile.TemporaryDirectory(prefix="prixfixe-record-") as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if not args.data:
            simulate(data, args.simulate, seed=args.seed)
            split_dataset(data, args.test_fraction, seed=args.seed)
        n_rows = open_dataset(data).rows["total"]
        overrides = {"strategy.epochs": args.epochs, "strategy.batch_size": args.batch_size,
                     "strategy.batches_per_epoch": args.batches_per_epoch}
        todo = [c for c in configs if config_key(c, dims) not in done]
        print(f"grid of {len(configs)} at width {args.width}: {len(todo)} to train, "
              f"{args.epochs} epochs x {args.batches_per_epoch} batches x {args.batch_size} "
              f"on {n_rows} rows")
        start = time.perf_counter()
        for index, config in enumerate(todo, start=1):
            rows.extend(train_curve(config, config_key(config, dims), data, overrides, args,
                                    Path(tmp)))
            write_table(rows, out, metadata(args, n_rows))
            spent = time.perf_counter() - start
            eta = spent / index * (len(todo) - index)
            print(f"[{index}/{len(todo)}] {config_key(config, dims)}  best "
                  f"{max(r['val_pearson'] for r in rows[-args.epochs:]):.3f}  "
                  f"elapsed {spent / 60:.1f} min, ETA {eta / 60:.1f} min", flush=True)
    print(f"wrote {out} ({len(rows)} rows)")


def train_curve(config: dict[str, Any], key: str, data: Path, overrides: dict[str, Any],
                args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """One configuration's table rows: validation r, test r and seconds per epoch."""
    trainer = Trainer(config_to_spec(config, overrides), data, seed=args.seed,
                      log=lambda _m: None)
    n_params = count_parameters(trainer.model)
    test_loader = ShardLoader(trainer.dataset, batch_size=TEST_BATCH,
                              **trainer.dataset.select(TEST).loader_kwargs(),
                              columns=["sequence", *trainer.meta.targets], shuffle=False)
    rows: list[dict[str, Any]] = []
    last = time.perf_counter()

    def on_epoch(metrics: dict[str, Any], _best: Any) -> None:
        nonlocal last
        now = time.perf_counter()  # the epoch's time excludes scoring the test rows
        rows.append({"key": key, "config": json.dumps(config, sort_keys=True, default=str),
                     "epoch": int(metrics["epoch"]), "val_pearson": float(metrics["val_pearson"]),
                     "test_pearson": test_pearson(trainer, test_loader),
                     "seconds": now - last, "n_parameters": n_params})
        last = time.perf_counter()

    fit(trainer, tmp / "best", epochs=args.epochs, on_epoch=on_epoch)
    return rows


def test_pearson(trainer: Trainer, loader: ShardLoader) -> float:
    """Pearson r of the trainer's current model on the test rows (mean over targets)."""
    preds, trues = [], []
    for batch in loader.epoch(0):
        preds.append(predict_both_strands(trainer.model, trainer.encoder, batch.column("sequence"),
                                          trainer.device, trainer.amp))
        trues.append(trainer.encoder.targets(batch).numpy())
    return regression_metrics(np.concatenate(preds), np.concatenate(trues),
                              prefix="test_")["test_pearson"]


def read_rows(out: Path) -> list[dict[str, Any]]:
    """Rows already recorded in `out` (none when it does not exist)."""
    if not out.exists():
        return []
    import pyarrow.parquet as pq  # only to extend an existing table

    return pq.read_table(out).to_pylist()


def metadata(args: argparse.Namespace, n_rows: int) -> dict[str, str]:
    """How the table was made: the exact command, scale, data and code version."""
    data = args.data or (f"simulate {args.simulate} rows seed {args.seed}, test fraction "
                         f"{args.test_fraction}")
    return {"space": SPACE, "width": args.width, "epochs": str(args.epochs),
            "batch_size": str(args.batch_size), "batches_per_epoch": str(args.batches_per_epoch),
            "data": data, "rows": str(n_rows), "seed": str(args.seed),
            "code_version": code_version(),
            "command": shlex.join(["benchmarks/search_efficiency.py", *sys.argv[1:]]),
            "fix": json.dumps(args.fix), "cpus": str(os.cpu_count()), "note": args.note}


def add_record_arguments(rec: argparse.ArgumentParser) -> None:
    """The `record` sub-command's options."""
    rec.add_argument("--out", required=True)
    source = rec.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a converted dataset directory with a test split")
    source.add_argument("--simulate", type=int, help="simulate this many rows")
    rec.add_argument("--test-fraction", type=float, default=0.1,
                     help="with --simulate: the rows held out as the test split")
    rec.add_argument("--width", default="tiny", choices=["tiny", "small", "published"])
    rec.add_argument("--epochs", type=int, default=6)
    rec.add_argument("--batch-size", type=int, default=64)
    rec.add_argument("--batches-per-epoch", type=int, default=40)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--fix", action="append", default=[], help="pin a grid dimension (tests)")
    rec.add_argument("--note", default="", help="how --data was made (kept with the table)")
