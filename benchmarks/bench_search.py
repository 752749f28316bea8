"""Search overhead: a Ray Tune + Optuna + MLflow search vs the same trials trained in a loop.

Baseline (same process, same configurations): each trial's Trainer trained epoch by epoch,
one after the other, with no Ray, no checkpoints and no tracking. The search runs the same
number of trials with ASHA off, so the ratio is the price (or, with several CPUs, the gain) of
the distributed machinery. Also times the pre-launch space check.

    .venv/bin/python benchmarks/bench_search.py [--rows 5000] [--trials 6] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from prixfixe_blocks.data.simulate import simulate
from prixfixe_blocks.training.trainer import Trainer
from search.runner import SearchOptions, run_search
from spaces import check_space, config_to_spec, load_space, sample_configs

RUN = {"strategy.batch_size": 64, "strategy.batches_per_epoch": 8}


def baseline(data: Path, configs: list[dict], epochs: int) -> float:
    """Seconds to train `configs` one after the other in this process."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    for config in configs:
        spec = config_to_spec(config, {**RUN, "strategy.epochs": epochs})
        trainer = Trainer(spec, data, log=lambda _m: None)
        for _ in range(epochs):
            trainer.train_epoch()
            trainer.evaluate()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    data = work / "data"
    simulate(data, args.rows, seed=0, test_rows=50)
    fixes = [f"{k}={v}" for k, v in RUN.items() if k != "strategy.batches_per_epoch"]
    space = load_space("prixfixe", width="tiny", fixed={"strategy.batch_size": 64})

    start = time.perf_counter()
    check_space(space, overrides={"strategy.epochs": args.epochs})
    check_s = time.perf_counter() - start

    configs = sample_configs(space, args.trials, seed=0)
    base_s = baseline(data, configs, args.epochs)

    start = time.perf_counter()
    summary = run_search(SearchOptions(
        data=str(data), name="bench", space="prixfixe", trials=args.trials,
        epochs=args.epochs, storage=str(work / "runs"), width="tiny", fix=fixes,
        batches_per_epoch=RUN["strategy.batches_per_epoch"], scheduler="none",
        num_cpus=os.cpu_count(), cpus_per_trial=1.0))
    search_s = time.perf_counter() - start

    n = len(summary["rows"])
    print(f"\nCPUs: {os.cpu_count()}, trials: {n}, epochs: {args.epochs}, "
          f"batches/epoch: {RUN['strategy.batches_per_epoch']} x {RUN['strategy.batch_size']}")
    print(f"space check (16 configs):          {check_s:7.1f} s")
    print(f"baseline, sequential in-process:   {base_s:7.1f} s ({base_s / n:.1f} s/trial)")
    print(f"search (Ray Tune+Optuna+MLflow):   {search_s:7.1f} s ({search_s / n:.1f} s/trial)")
    print(f"search / baseline:                 {search_s / base_s:7.2f}x")
    print(f"overhead per trial vs baseline:    {(search_s - base_s) / n:7.2f} s "
          "(negative = parallel trials win)")


if __name__ == "__main__":
    main()
