"""`live`: one real (trained, not replayed) `prixfixe-search run` TPE + ASHA search at a curve
table's scale on the same data, its trial-epochs to 99% of the grid's best placed within the
replay's spread over seeds (`search_efficiency.py live TABLE`)."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.grid_record import SPACE
from benchmarks.replay import REPLAY_CONCURRENCY
from benchmarks.replay_stats import TARGET, first_reach
from benchmarks.replay_table import read_table
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.data.write.resplit import split_dataset
from search.experiment import TRIALS_FILE, open_experiment
from search.record.mlflow_utils import resolve_tracking_uri
from search.run.driver import run_search
from search.run.options import SearchOptions


def live(args: argparse.Namespace) -> None:
    """One real TPE + ASHA search at the table's scale; its figures beside the replay's."""
    table = Path(args.table)
    curves = read_table(table)
    meta = curves.metadata
    replayed = json.loads(Path(args.replay or table.with_suffix(".replay.json")).read_text())
    spread = replayed["methods"]["tpe+asha"]["epochs_to_99pct"]
    with tempfile.TemporaryDirectory(prefix="prixfixe-live-") as tmp:
        work = Path(args.dir or tmp)
        data = args.data or str(work / "data")
        if not args.data:
            rows, seed, test_fraction = simulated_source(meta)
            simulate(Path(data), rows, seed=seed)
            if test_fraction:
                split_dataset(Path(data), test_fraction, seed=seed)
        opts = SearchOptions(
            data=data, name=args.name, space=SPACE, trials=args.trials,
            epochs=int(meta["epochs"]), sampler="tpe", scheduler="asha",
            storage=str(work / "runs"), tracking_uri=resolve_tracking_uri(None, work),
            width=meta["width"], batches_per_epoch=int(meta["batches_per_epoch"]),
            fix=[f"strategy.batch_size={meta['batch_size']}", *json.loads(meta.get("fix", "[]"))],
            num_cpus=os.cpu_count(), max_concurrent=args.concurrency,
            cpus_per_trial=(os.cpu_count() or 1) / args.concurrency, seed=args.seed)
        start = time.perf_counter()
        run_search(opts)
        minutes = (time.perf_counter() - start) / 60
        records = open_experiment(str(work / "runs"), args.name).read_json(TRIALS_FILE, {})
    events = [(h["at"], h["val_pearson"]) for r in records.values() for h in r["history"]]
    values = np.asarray([value for _, value in sorted(events)], dtype=float)
    curve = np.maximum.accumulate(values)
    reached = first_reach(curve, TARGET * curves.best)
    seeds = sorted(math.inf if f["epochs_to_99pct"] is None else f["epochs_to_99pct"]
                   for f in replayed["per_seed"]["tpe+asha"])
    faster = sum(e < reached for e in seeds)
    inside = seeds[0] <= reached <= seeds[-1]
    print(f"live TPE + ASHA search: {len(records)} trials, {len(curve)} trial-epochs in "
          f"{minutes:.1f} min; best r {curve[-1]:.4f} (grid best {curves.best:.4f})")
    print(f"trial-epochs to {TARGET:.0%} of the grid's best: {reached:.0f}; replay median "
          f"{spread['median']:.0f} [95% interval {spread['low']:.0f}-{spread['high']:.0f}, range "
          f"{seeds[0]:.0f}-{seeds[-1]:.0f}] over {len(seeds)} seeds, {faster} of which were "
          f"faster: {'inside' if inside else 'outside'} the replay's spread")
    out = table.with_suffix(".live.json")
    out.write_text(json.dumps({"table": str(table), "trials": len(records), "minutes": minutes,
                               "epochs_to_99pct": reached, "replay_epochs_to_99pct": spread,
                               "replay_seeds_faster": faster, "replay_seeds": len(seeds),
                               "inside_range": inside, "curve": curve.tolist()}, indent=1))
    print(f"wrote {out}")


def simulated_source(meta: dict[str, str]) -> tuple[int, int, float]:
    """(rows, seed, test fraction) of a table recorded on simulated data ('simulate N rows
    seed S' and, since tables keep test scores, ', test fraction F')."""
    words = meta.get("data", "").replace(",", "").split()
    if len(words) not in (5, 8) or words[0] != "simulate":
        raise SystemExit(f"error: the table was recorded on {meta.get('data')!r}: give --data")
    return int(words[1]), int(words[4]), float(words[7]) if len(words) == 8 else 0.0


def add_live_arguments(liv: argparse.ArgumentParser) -> None:
    """The `live` sub-command's options."""
    liv.add_argument("table")
    liv.add_argument("--trials", type=int, default=40)
    liv.add_argument("--concurrency", type=int, default=REPLAY_CONCURRENCY,
                     help="trials at a time (the replay's concurrency)")
    liv.add_argument("--seed", type=int, default=0)
    liv.add_argument("--data", help="the dataset the table was recorded on (default: simulate "
                                    "it again from the table's metadata)")
    liv.add_argument("--replay", help="the replay JSON (default: beside the table)")
    liv.add_argument("--dir", help="keep the search here (default: a temporary directory)")
    liv.add_argument("--name", default="live")
