"""Search overhead: what Ray Tune + Optuna + MLflow + per-epoch checkpoints add to the trials,
and what reading the data from an object store adds to a trial.

Every trial trains the same configuration (a space of constants), so the work of a trial is
known: the baseline trains it in this process, with no Ray, no checkpoints and no tracking.
Trials are sized to about `--trial-seconds` (default 60) by timing a few batches first. The
search then runs `--trials` of them one at a time (so nothing runs in parallel with them) and

    overhead = (search wall time - trials x baseline trial time) / search wall time

covers Ray's start-up and scheduling, Optuna, the trial recorder and MLflow logging, the
per-epoch checkpoints (saved, synced) and the final report. The same search is then run with
its data on an S3-compatible server (moto, started on 127.0.0.1 like the tests do): trials read
every shard through the node's shard cache, so the difference in trial time is the object
store's cost (first download + checksum, then local reads).

    .venv/bin/python benchmarks/bench_search.py [--trial-seconds 60] [--trials 3] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.s3_support: the S3-compatible test server

from prixfixe_blocks.data.simulate.simulator import simulate  # noqa: E402
from prixfixe_blocks.training.trainer import Trainer  # noqa: E402
from search.experiment import TRIALS_FILE  # noqa: E402
from search.run.driver import run_search  # noqa: E402
from search.run.options import SearchOptions  # noqa: E402
from spaces import config_to_spec, load_space, sample_configs  # noqa: E402
from tests.s3_support import MotoS3  # noqa: E402

SPACE = """params:
  first: autosome
  core: autosome
  final: autosome
  strategy.batch_size: 64
"""
WIDTH = "tiny"
PROBE_BATCHES = 30


def trial_work(data: str | Path, config: dict, epochs: int, batches: int) -> float:
    """Seconds to build a Trainer and run `epochs` of train + validate (the trial's own work)."""
    spec = config_to_spec(config, {"strategy.epochs": epochs,
                                   "strategy.batches_per_epoch": batches})
    start = time.perf_counter()
    trainer = Trainer(spec, data, log=lambda _m: None)
    for _ in range(epochs):
        trainer.train_epoch()
        trainer.evaluate()
    return time.perf_counter() - start


def search(data: str, storage: Path, name: str, space: Path, args: argparse.Namespace,
           batches: int) -> tuple[float, list[float]]:
    """Wall seconds of one sequential search and each trial's seconds (from its record)."""
    start = time.perf_counter()
    summary = run_search(SearchOptions(
        data=data, name=name, space=str(space), trials=args.trials, epochs=args.epochs,
        storage=str(storage), width=WIDTH, batches_per_epoch=batches, scheduler="none",
        max_concurrent=1, num_cpus=os.cpu_count(), cpus_per_trial=1.0, gpus_per_trial=0,
        enqueue_presets=False))
    wall = time.perf_counter() - start
    records: list[dict[str, Any]] = list(
        json.loads((storage / name / TRIALS_FILE).read_text()).values())
    assert len(records) == len(summary["rows"]) == args.trials
    return wall, [r["updated"] - r["started"] for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--trial-seconds", type=float, default=60.0)
    parser.add_argument("--no-s3", action="store_true", help="skip the object-store search")
    parser.add_argument("--project-trials", type=int, default=20,
                        help="search size for the projected overhead line")
    parser.add_argument("--project-seconds", type=float, default=60.0,
                        help="trial length for the projected overhead line")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as a trial with --cpus-per-trial 1
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    data = work / "data"
    simulate(data, args.rows, seed=0, test_rows=50, shard_rows=max(args.rows // 4, 1))
    space = work / "space.yaml"
    space.write_text(SPACE)
    config = sample_configs(load_space(str(space), width=WIDTH), 1, seed=0)[0]

    probe = trial_work(data, config, 1, PROBE_BATCHES) / PROBE_BATCHES
    batches = max(1, int(args.trial_seconds / args.epochs / probe))
    base = trial_work(data, config, args.epochs, batches)
    print(f"trial: {args.epochs} epochs x {batches} batches of 64 ({config['first']}/"
          f"{config['core']}/{config['final']}, width {WIDTH}); baseline {base:.1f} s")

    wall, trials = search(str(data), work / "runs", "local", space, args, batches)
    overhead = wall - args.trials * base
    print(f"\nCPUs: {os.cpu_count()}, trials: {args.trials} (one at a time)")
    print(f"baseline, {args.trials} trials in a plain loop:   {args.trials * base:7.1f} s")
    print(f"search (Ray Tune+Optuna+MLflow+ckpt):  {wall:7.1f} s")
    print(f"overhead:                              {overhead:7.1f} s = "
          f"{100 * overhead / wall:.1f}% of the search's wall time (goal <= 5%)")
    mean = sum(trials) / len(trials)
    fixed, per_trial = wall - sum(trials), mean - base
    print(f"trial time in the search (local data): {mean:7.1f} s mean")
    print(f"  = fixed {fixed:.1f} s per search (Ray start, launch check, final report) + "
          f"{per_trial:.2f} s per trial ({100 * per_trial / base:.1f}% of its work: "
          "checkpoints, reporting, MLflow, scheduling)")
    n, t = args.project_trials, args.project_seconds
    projected = (fixed + n * per_trial) / (fixed + n * (t + per_trial))
    print(f"  projected for {n} trials of {t:g} s with {args.epochs} epochs (the same fixed and "
          f"per-trial costs; a model, not a measurement): {100 * projected:.1f}%")
    if args.no_s3:
        return
    s3 = MotoS3().start()
    try:
        os.environ.update(s3.env(PRIXFIXE_CACHE=str(work / "cache")))
        uri = s3.uri("bench/data")
        simulate(uri, args.rows, seed=0, test_rows=50, shard_rows=max(args.rows // 4, 1))
        s3_wall, s3_trials = search(uri, work / "runs-s3", "s3", space, args, batches)
    finally:
        s3.stop()
    s3_mean = sum(s3_trials) / len(s3_trials)
    print(f"trial time in the search (S3 data):    {s3_mean:7.1f} s mean "
          f"({100 * (s3_mean - mean) / mean:+.1f}% vs local; first trial "
          f"{s3_trials[0]:.1f} s downloads the shards, later ones read the node's cache)")
    print(f"search wall time, S3 data:             {s3_wall:7.1f} s")


if __name__ == "__main__":
    main()
