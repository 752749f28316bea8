"""How much of the paper's grid does a search need? A tabular benchmark (record, then replay).

`record` trains every combination of `prixfixe-grid` for a fixed number of epochs (in this
process, one after another; resumable: configurations already in the table are skipped) and
stores each one's validation curve, epoch times and parameter count in a Parquet table.
`replay` runs `prixfixe-search run`'s own samplers and schedulers through Ray Tune against that
table (a trainable that reads curves instead of training) for many seeds, and reports the
trial-epochs needed to reach 99% of the grid's best validation r and the best found at 10%,
20% and 50% of the grid's trial-epochs, with a plot of best-so-far per method.

    .venv/bin/python benchmarks/search_efficiency.py record --simulate 20000 \\
        --out benchmarks/results/grid-sim-tiny.parquet
    .venv/bin/python benchmarks/search_efficiency.py replay \\
        benchmarks/results/grid-sim-tiny.parquet --seeds 20
    .venv/bin/python benchmarks/search_efficiency.py live \\
        benchmarks/results/grid-sim-tiny.parquet --trials 40

`live` runs one real (trained, not replayed) `prixfixe-search run` TPE + ASHA search at the
table's scale on the same data and places its figures within the replay's spread.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks.replay (Ray workers find it from the cwd)

from benchmarks.grid_record import SPACE, add_record_arguments, record  # noqa: E402
from benchmarks.replay import (  # noqa: E402
    FRACTIONS,
    METHODS,
    REPLAY_CONCURRENCY,
    TARGET,
    Method,
    best_so_far,
    efficiency,
    replay_search,
)
from benchmarks.replay_table import read_table  # noqa: E402
from prixfixe_blocks.data.simulate.simulator import simulate  # noqa: E402
from search.experiment import TRIALS_FILE, open_experiment  # noqa: E402
from search.record.mlflow_utils import resolve_tracking_uri  # noqa: E402
from search.run.driver import run_search  # noqa: E402
from search.run.options import SearchOptions  # noqa: E402


def replay(args: argparse.Namespace) -> None:
    """Replay each method for each seed; print the summary table and save JSON + plot."""
    table = Path(args.table)
    curves = read_table(table)
    wanted = args.methods.split(",")
    methods = [m for m in all_methods() if "all" in wanted or m.name in wanted]
    unknown = set(wanted) - {m.name for m in all_methods()} - {"all"}
    if unknown:
        sys.exit(f"error: unknown method(s) {', '.join(sorted(unknown))}; see --help")
    grid_te = curves.grid_trial_epochs
    print(f"{table}: {len(curves.values)} configurations x {curves.epochs} epochs "
          f"= {grid_te} trial-epochs; grid best r {curves.best:.4f}")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no experiment box per replayed search
    # Without result files (above) Tune warns once per trial when it builds the result grid.
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results: dict[str, list[list[float]]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prixfixe-replay-") as tmp:
        for method in methods:
            for seed in range(args.seeds):
                curve = replay_search(table, method, seed, budget_fraction=args.budget,
                                      storage=Path(tmp))
                results.setdefault(method.name, []).append(curve.tolist())
                print(f"  {method.name} seed {seed}: {len(curve)} trial-epochs, best "
                      f"{curve[-1] if len(curve) else float('nan'):.4f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    ray.shutdown()
    summary = summarise(results, curves.best, grid_te)
    print_summary(summary, grid_te)
    out = Path(args.out or table.with_suffix(".replay.json"))
    out.write_text(json.dumps({"table": str(table), "seeds": args.seeds, "budget": args.budget,
                               "grid_best": curves.best, "grid_trial_epochs": grid_te,
                               "summary": summary, "curves": results}, indent=1))
    plot(results, curves.best, grid_te, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def all_methods() -> list[Method]:
    """The default methods plus the variants the defaults were chosen against."""
    return [*METHODS, Method("tpe", "asha", enqueue_presets=False), Method("tpe", "none"),
            *(Method("tpe", "asha", grace_period=g) for g in (1, 2)),
            Method("tpe", "asha", reduction_factor=2), Method("tpe", "asha", reduction_factor=4),
            *(Method("tpe", "asha", tpe=(("n_startup_trials", n),)) for n in (5, 20)),
            Method("tpe", "asha", tpe=(("multivariate", False), ("group", False))),
            Method("tpe", "asha", tpe=(("constant_liar", False),))]


def summarise(results: dict[str, list[list[float]]], grid_best: float,
              grid_te: int) -> dict[str, dict[str, Any]]:
    """Per method: median and quartiles of each efficiency figure over seeds."""
    summary: dict[str, dict[str, Any]] = {}
    for name, curves in results.items():
        figures = [efficiency(np.asarray(c), grid_best, grid_te) for c in curves]
        summary[name] = {}
        for key in figures[0]:
            values = np.asarray([f[key] for f in figures])
            summary[name][key] = {"median": float(np.median(values)),
                                  "q25": float(np.quantile(values, 0.25)),
                                  "q75": float(np.quantile(values, 0.75)),
                                  "reached": int(np.isfinite(values).sum())}
    return summary


def print_summary(summary: dict[str, dict[str, Any]], grid_te: int) -> None:
    """The table README quotes."""
    heads = ["epochs to 99% (median [IQR], % of grid)"] + [
        f"best at {int(f * 100)}%" for f in FRACTIONS]
    print(f"{'method':<20}" + "".join(f"{h:>44}" if i == 0 else f"{h:>18}"
                                      for i, h in enumerate(heads)))
    for name, figs in summary.items():
        reach = figs["epochs_to_target"]
        cell = (f"{reach['median']:.0f} [{reach['q25']:.0f}-{reach['q75']:.0f}] "
                f"({100 * reach['median'] / grid_te:.0f}%), {reach['reached']} seeds reached")
        row = f"{name:<20}{cell:>44}"
        for fraction in FRACTIONS:
            fig = figs[f"best_at_{int(fraction * 100)}pct"]
            row += f"{fig['median']:>12.3f} ±{(fig['q75'] - fig['q25']) / 2:.3f}"
        print(row)
    print(f"(best as a fraction of the grid's best; 'reached' = best-so-far >= {TARGET} x it)")


def plot(results: dict[str, list[list[float]]], grid_best: float, grid_te: int,
         path: Path) -> None:
    """Median best-so-far (and quartile band) vs trial-epochs, one line per method."""
    import matplotlib  # plotting only here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    shown = {m.name for m in METHODS} & set(results) or set(results)  # variants: table only
    for name, curves in results.items():
        if name not in shown:
            continue
        length = min(len(c) for c in curves)
        stack = np.asarray([c[:length] for c in curves]) / grid_best
        x = np.arange(1, length + 1) / grid_te * 100
        ax.plot(x, np.median(stack, axis=0), label=name)
        ax.fill_between(x, np.quantile(stack, 0.25, axis=0), np.quantile(stack, 0.75, axis=0),
                        alpha=0.2)
    ax.axhline(TARGET, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("trial-epochs spent (% of the full grid)")
    ax.set_ylabel("best validation r so far / grid's best")
    ax.set_title("prixfixe-grid replay (median and quartiles over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def live(args: argparse.Namespace) -> None:
    """One real TPE + ASHA search at the table's scale; its figures beside the replay's."""
    table = Path(args.table)
    curves = read_table(table)
    meta = curves.metadata
    replayed = json.loads(Path(args.replay or table.with_suffix(".replay.json")).read_text())
    spread = replayed["summary"]["tpe+asha"]["epochs_to_target"]
    with tempfile.TemporaryDirectory(prefix="prixfixe-live-") as tmp:
        work = Path(args.dir or tmp)
        data = args.data or str(work / "data")
        if not args.data:
            rows, seed = simulated_source(meta)
            simulate(Path(data), rows, seed=seed)
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
    curve = best_so_far(events)
    figures = efficiency(curve, curves.best, curves.grid_trial_epochs)
    reached = figures["epochs_to_target"]
    seeds = sorted(efficiency(np.asarray(c), curves.best, curves.grid_trial_epochs)
                   ["epochs_to_target"] for c in replayed["curves"]["tpe+asha"])
    faster = sum(e < reached for e in seeds)
    inside = seeds[0] <= reached <= seeds[-1]
    print(f"live TPE + ASHA search: {len(records)} trials, {len(curve)} trial-epochs in "
          f"{minutes:.1f} min; best r {curve[-1]:.4f} (grid best {curves.best:.4f})")
    print(f"trial-epochs to {TARGET:.0%} of the grid's best: {reached:.0f}; replay median "
          f"{spread['median']:.0f} [IQR {spread['q25']:.0f}-{spread['q75']:.0f}, range "
          f"{seeds[0]:.0f}-{seeds[-1]:.0f}] over {len(seeds)} seeds, {faster} of which were "
          f"faster: {'inside' if inside else 'outside'} the replay's spread")
    out = table.with_suffix(".live.json")
    out.write_text(json.dumps({"table": str(table), "trials": len(records), "minutes": minutes,
                               "figures": figures, "replay_epochs_to_target": spread,
                               "replay_seeds_faster": faster, "replay_seeds": len(seeds),
                               "inside_range": inside, "curve": curve.tolist()}, indent=1))
    print(f"wrote {out}")


def simulated_source(meta: dict[str, str]) -> tuple[int, int]:
    """(rows, seed) of a table recorded on simulated data ('simulate N rows seed S')."""
    words = meta.get("data", "").split()
    if len(words) != 5 or words[0] != "simulate":
        raise SystemExit(f"error: the table was recorded on {meta.get('data')!r}: give --data")
    return int(words[1]), int(words[4])


def main(argv: list[str] | None = None) -> None:
    """Command line: `record` or `replay`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="train the whole grid, write the curve table")
    add_record_arguments(rec)
    rep = sub.add_parser("replay", help="replay search methods against a curve table")
    rep.add_argument("table")
    rep.add_argument("--seeds", type=int, default=20)
    rep.add_argument("--budget", type=float, default=0.5,
                     help="stop each search after this fraction of the grid's trial-epochs")
    rep.add_argument("--methods", default=",".join(m.name for m in METHODS),
                     help="comma-separated method names, or 'all' for every variant: "
                          + ", ".join(m.name for m in all_methods()))
    rep.add_argument("--out", help="JSON summary (default: beside the table)")
    liv = sub.add_parser("live", help="one real TPE + ASHA search at the table's scale")
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
    args = parser.parse_args(argv)
    {"record": record, "replay": replay, "live": live}[args.command](args)


if __name__ == "__main__":
    main()
