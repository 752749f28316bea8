"""How much of the paper's grid does a search need? A tabular benchmark (record, then replay).

`record` (grid_record.py) trains every combination of `prixfixe-grid` for a fixed number of
epochs and stores each one's validation and test curves, epoch times and parameter count in a
Parquet table. `replay` (replay.py) drives `prixfixe-search run`'s own searcher and scheduler
on a virtual clock against that table for paired seeds 0..N-1 (deterministic: the same table,
methods and seeds give the same JSON) and reports (replay_stats.py) medians with 95%
bootstrap intervals, paired differences against `tpe+asha`, regret curves, and the test r of
the configuration each search would pick against the test r of the grid's own pick.

    .venv/bin/python benchmarks/search_efficiency.py record --simulate 10000 --epochs 8 \\
        --batches-per-epoch 12 --batch-size 32 --out benchmarks/results/grid-sim-tiny.parquet
    .venv/bin/python benchmarks/search_efficiency.py replay \\
        benchmarks/results/grid-sim-tiny.parquet --seeds 50 --methods all
    .venv/bin/python benchmarks/search_efficiency.py live \\
        benchmarks/results/grid-sim-tiny.parquet --trials 40

`live` (replay_live.py) runs one real (trained) TPE + ASHA search at the table's scale on the
same data and places its figures within the replay's spread.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `benchmarks.*` when run as a script

from benchmarks.grid_record import add_record_arguments, record  # noqa: E402
from benchmarks.replay import METHODS, TOLD, Method, replay_search  # noqa: E402
from benchmarks.replay_live import add_live_arguments, live  # noqa: E402
from benchmarks.replay_markdown import interval_cell, markdown  # noqa: E402
from benchmarks.replay_stats import (  # noqa: E402
    FRACTIONS,
    figures,
    grid_facts,
    pct,
    regret_curves,
    summarise,
)
from benchmarks.replay_table import read_table  # noqa: E402
from search.study.repeats import RANDOM  # noqa: E402

REFERENCE = "tpe+asha"  # paired differences are against `run`'s default method
# `run`'s default with the repeats told a copied outcome (before issue 20), with a random
# proposal after 3 or 10 repeats in a row, and with the neighbour after 3 instead of 1.
REPEAT_VARIANTS: tuple[Method, ...] = (
    Method("tpe", "asha", repeats=TOLD),
    *(Method("tpe", "asha", repeats=RANDOM, fallback_after=n) for n in (3, 10)),
    Method("tpe", "asha", fallback_after=3))


def all_methods() -> list[Method]:
    """The default methods plus the variants the defaults were chosen against: among them
    `run`'s default with other repeat handlings (REPEAT_VARIANTS)."""
    return [*METHODS, *REPEAT_VARIANTS, Method("tpe", "none"),
            *(Method("tpe", "asha", grace_period=g) for g in (1, 2)),
            Method("tpe", "asha", reduction_factor=2), Method("tpe", "asha", reduction_factor=4),
            *(Method("tpe", "asha", tpe=(("n_startup_trials", n),)) for n in (5, 20)),
            Method("tpe", "asha", tpe=(("multivariate", False), ("group", False))),
            Method("tpe", "asha", tpe=(("constant_liar", False),))]


def chosen_methods(wanted: str) -> list[Method]:
    """The methods named in `--methods` (comma-separated, or `all`); exits on unknown names."""
    names = wanted.split(",")
    unknown = set(names) - {m.name for m in all_methods()} - {"all"}
    if unknown:
        sys.exit(f"error: unknown method(s) {', '.join(sorted(unknown))}; see --help")
    return [m for m in all_methods() if "all" in names or m.name in names]


def replay_report(table: Path, methods: list[Method], seeds: int,
                  budget_fraction: float) -> dict[str, Any]:
    """Replay every method for seeds 0..seeds-1 and summarise (the JSON `replay` writes)."""
    curves = read_table(table)
    grid = grid_facts(curves)
    budget = max(1, int(budget_fraction * curves.grid_trial_epochs))
    replays = {m.name: [replay_search(curves, m, s, budget_fraction=budget_fraction)
                        for s in range(seeds)] for m in methods}
    per_seed = {name: [figures(r, grid) for r in runs] for name, runs in replays.items()}
    return {"table": table.name, "table_command": curves.metadata.get("command", ""),
            "seeds": seeds, "budget": budget_fraction, "budget_trial_epochs": budget,
            "grid": grid, **summarise(per_seed, budget, REFERENCE),
            "trials_started": {n: [r.trials for r in runs] for n, runs in replays.items()},
            "regret_curves": regret_curves(replays, grid, budget),
            "per_seed": {n: [{k: (v if math.isfinite(v) else None) for k, v in row.items()}
                             for row in rows] for n, rows in per_seed.items()}}


def replay(args: argparse.Namespace) -> None:
    """`replay`: print the summary, write the JSON and the regret plot beside the table."""
    table = Path(args.table)
    start = time.perf_counter()
    report = replay_report(table, chosen_methods(args.methods), args.seeds, args.budget)
    print_summary(report)
    print(f"({len(report['per_seed'])} methods x {args.seeds} seeds replayed in "
          f"{time.perf_counter() - start:.0f} s)")
    out = Path(args.out or table.with_suffix(".replay.json"))
    out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    plot(report, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def print_summary(report: dict[str, Any]) -> None:
    """The tables README quotes: medians [95% intervals], and paired differences."""
    grid, budget = report["grid"], report["budget_trial_epochs"]
    print(f"{report['table']}: grid best val r {grid['best']:.4f} (top-{3} cell "
          f"{grid['top3_best']:.4f}), {grid['trial_epochs']} trial-epochs; the grid's pick has "
          f"test r {grid['pick_test']:.4f}; budget {budget} trial-epochs, "
          f"{report['seeds']} paired seeds")

    def reach(f: dict[str, Any]) -> str:
        return interval_cell(f, 0, budget) + f" ({f['reached']})"

    heads = ["to 99% of best", "to a top-3 cell"] + [
        f"{k} at {pct(f)}" for f in FRACTIONS for k in ("best", "test")]
    print(f"{'method':<32}" + "".join(f"{h:>24}" for h in heads))
    for name, figs in report["methods"].items():
        row = f"{name:<32}{reach(figs['epochs_to_99pct']):>24}{reach(figs['epochs_to_top3']):>24}"
        for fraction in FRACTIONS:
            for kind in ("best", "test"):
                f = figs[f"{kind}_at_{pct(fraction)}"]
                row += interval_cell(f, 3).rjust(24)
        print(row)
    print("(median [95% bootstrap interval] over seeds; trial-epochs, seeds that reached in "
          "(); best = best val r so far / grid best; test = test r of the configuration picked "
          "by val r so far)")
    print(f"paired differences against {REFERENCE} (mean of method - {REFERENCE} over seeds "
          "[95% interval], seeds better/worse):")
    for name, figs in report["paired"].items():
        cells = [f"{k} {d['mean_diff']:+.3g} [{d['low']:+.3g}, {d['high']:+.3g}] "
                 f"{d['better']}/{d['worse']}" for k, d in figs.items()
                 if k.startswith(("epochs", "regret_at_20", "test_at_20", "test_at_50"))]
        print(f"  {name}: " + "; ".join(cells))


def plot(report: dict[str, Any], path: Path) -> None:
    """Median regret (and its 95% band) vs trial-epochs, one line per default method (and
    the repeat handlings before); the grid's cost on the x axis as a percentage."""
    import matplotlib  # plotting only here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    shown = {m.name for m in (*METHODS, *REPEAT_VARIANTS[:2])}
    for name, curve in report["regret_curves"].items():
        if name not in shown:
            continue
        x = [100 * p / report["grid"]["trial_epochs"] for p in curve["trial_epochs"]]
        ax.plot(x, curve["median"], label=name)
        ax.fill_between(x, curve["low"], curve["high"], alpha=0.2)
    ax.set_xlabel("trial-epochs spent (% of the full grid)")
    ax.set_ylabel("regret: grid's best val r - best so far")
    ax.set_title(f"{report['table']}: median regret over {report['seeds']} seeds (95% band)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    """Command line: `record`, `replay`, `live` or `markdown`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_record_arguments(sub.add_parser("record", help="train the whole grid, write the table"))
    rep = sub.add_parser("replay", help="replay search methods against a curve table")
    rep.add_argument("table")
    rep.add_argument("--seeds", type=int, default=50, help="paired seeds 0..N-1")
    rep.add_argument("--budget", type=float, default=0.5,
                     help="stop each search after this fraction of the grid's trial-epochs")
    rep.add_argument("--methods", default=",".join(m.name for m in METHODS),
                     help="comma-separated method names, or 'all' for every variant: "
                          + ", ".join(m.name for m in all_methods()))
    rep.add_argument("--out", help="JSON summary (default: beside the table)")
    add_live_arguments(sub.add_parser("live", help="one real TPE + ASHA search at the "
                                                   "table's scale"))
    md = sub.add_parser("markdown", help="README's tables from a replay JSON")
    md.add_argument("report", help="a replay's JSON (grid-*.replay.json, *.repeats.json)")
    args = parser.parse_args(argv)
    if args.command == "markdown":
        print(markdown(json.loads(Path(args.report).read_text())), end="")
        return
    {"record": record, "replay": replay, "live": live}[args.command](args)


if __name__ == "__main__":
    main()
