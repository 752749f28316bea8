"""Search vs presets vs the k-mer ridge on held-out rows, at the same time budget.

For each dataset and budget B (2 cores unless the machine has more):
- the search as a user runs it: `run --time-budget B` (the planner picks width, passes, trials),
  then `refit` with its defaults (the selection ensemble, the ridge a candidate), for each seed;
  refit's time is recorded separately;
- every DREAM preset, each given the whole budget: `train --preset P --width W --time-budget B`
  at the width the search's planner chose for that budget (the width the search enqueues the
  presets at);
- the k-mer ridge fitted on the same training rows (`evaluate` fits it beside every model).
Everything is scored on test rows never used to choose (`held_out_data.score`). Results are
appended to the JSON as they come (a rerun skips what is there), then printed as tables.

    .venv/bin/python benchmarks/held_out.py --budgets 3m --seeds 0,1 \\
        --out benchmarks/results/held_out.json
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.held_out_data import Dataset, cli, prepare, score, truth_ceiling  # noqa: E402
from benchmarks.held_out_report import PRESETS, plot, table  # noqa: E402
from prixfixe_blocks.atomic import atomic_write_text  # noqa: E402
from prixfixe_blocks.evaluation.ensemble import RIDGE  # noqa: E402
from search.experiment import (  # noqa: E402
    ENSEMBLE_DIR,
    REFIT_FILE,
    REFIT_TEST_JSON,
    SEARCH_FILE,
    TRIALS_FILE,
)
from search.refit.select import SELECTION  # noqa: E402
from search.run.budget import parse_duration  # noqa: E402

DATASETS = ("dream", "deepstarr", "lentimpra", "simulated")
OVERHEAD_S = 60  # start-up, planning and scoring per command, for the cost estimate


def arm_name(data: str, budget: str, seed: int, run_args: tuple[str, ...] = ()) -> str:
    """The search's name (its directory under WORK/runs)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", " ".join(run_args)).strip("-")
    return "-".join(filter(None, (data, budget, slug, f"s{seed}")))


def search_arm(data: Dataset, budget: str, seed: int, work: Path,
               run_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """`run --time-budget` (+ `run_args`) then `refit`, the ensemble scored on the test rows."""
    name = arm_name(data.name, budget, seed, run_args)
    runs, log = work / "runs", work / "logs" / f"{name}.log"
    start = time.perf_counter()
    cli("run", "--data", str(data.path), "--name", name, "--time-budget", budget, "--seed",
        str(seed), "--storage", str(runs), "--tracking-uri", f"sqlite:///{work}/mlflow.db",
        *run_args, log=log)
    search_s = time.perf_counter() - start
    cli("refit", name, "--storage", str(runs), log=log)
    refit_s = time.perf_counter() - start - search_s
    return {**refit_scores(data, runs / name, work), "search_s": search_s, "refit_s": refit_s,
            "run": str((runs / name).resolve())}


def refit_scores(data: Dataset, root: Path, work: Path) -> dict[str, Any]:
    """The refit ensemble of the search in `root` scored on the test rows, with the plan and
    the selection that made it."""
    options = json.loads((root / SEARCH_FILE).read_text())["options"]
    refit = json.loads((root / REFIT_FILE).read_text()) if (root / REFIT_FILE).is_file() else {}
    scores = score(root / ENSEMBLE_DIR, data, work / "scores" / f"{root.name}.json")
    ran = json.loads((root / TRIALS_FILE).read_text()).values()
    return {**scores, "ridge_train_val": refit_ridge(root), "width": options["width"],
            "epochs": options["epochs"], "trials": options["trials"],
            "trials_run": dict(Counter(t["status"] for t in ran)),
            "selection": refit.get(SELECTION)}


def reselect(args: argparse.Namespace) -> dict[str, Any]:
    """Every saved search arm whose run is still in WORK, its ensemble chosen and written again
    by this code (`refit` again: its trained models are kept, nothing is retrained) and scored
    again; the figures it replaces are kept as `model_before`."""
    out, work = Path(args.out), Path(args.work)
    results = json.loads(out.read_text())
    for name in args.datasets.split(","):
        data = prepare(name, work)
        for label, arms in results["datasets"].get(name, {}).get("budgets", {}).items():
            budget, *run_args = label.split(" ")
            for seed, arm in arms.get("search", {}).items():
                # where the arm ran ("run": absolute; older arms: by name under WORK)
                root = work / "runs" / arm.get("run", arm_name(name, budget, int(seed),
                                                               tuple(run_args)))
                if budget not in args.budgets.split(",") or not (root / REFIT_FILE).is_file():
                    continue
                cli("refit", root.name, "--storage", str(root.parent),
                    log=work / "logs" / f"{root.name}.log")
                before = arm.get("model_before", arm["model"])
                arm.update(refit_scores(data, root, work), model_before=before)
                save(results, out)
                print(f"{name} {label} seed {seed}: {before} -> {arm['model']}", flush=True)
    return results


def refit_ridge(root: Path) -> float | None:
    """Test r of the k-mer ridge fitted on train + val, the rows refit trains on (refit's own
    test table): the ridge the search's output must beat (the presets' `evaluate` fits it on
    the train rows only)."""
    path = root / REFIT_TEST_JSON
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    return next((r["test_pearson"] for r in rows if r.get("role") == RIDGE), None)


def preset_arm(data: Dataset, budget: str, preset: str, width: str,
               work: Path) -> dict[str, Any]:
    """`train --preset P --width W --time-budget B`, scored on the test rows."""
    name = f"{data.name}-{budget}-{width}-{preset}"
    out, start = work / "presets" / name, time.perf_counter()
    if not (out / "best.json").is_file():
        cli("train", "--data", str(data.path), "--preset", preset, "--width", width,
            "--time-budget", budget, "--out", str(out), "--device", "cpu",
            log=work / "logs" / f"{name}.log")
    seconds = time.perf_counter() - start
    spec = json.loads((out / "spec.json").read_text())
    return {**score(out, data, work / "scores" / f"{name}.json"), "train_s": seconds,
            "width": width, "epochs": spec["strategy.epochs"]}


def _todo(results: dict[str, Any], datasets: list[str], budgets: list[str], seeds: list[int],
          run_args: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """(budget, searches, presets) still to run per dataset and budget (the rest is cached; a
    variant's presets are the plain budget's)."""
    out = []
    for name in datasets:
        entry = results["datasets"].get(name, {}).get("budgets", {})
        for budget in budgets:
            arms = entry.get(" ".join((budget, *run_args)), {})
            done = {*arms.get("presets", {}), *entry.get(budget, {}).get("presets", {})}
            out.append((budget, sum(str(s) not in arms.get("search", {}) for s in seeds),
                        sum(p not in done for p in PRESETS)))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every arm not yet in the results file; the results."""
    out, work = Path(args.out), Path(args.work)
    results = json.loads(out.read_text()) if out.is_file() else {"datasets": {}}
    datasets, budgets = args.datasets.split(","), args.budgets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    run_args = tuple(shlex.split(args.run_args))
    todo = _todo(results, datasets, budgets, seeds, run_args)
    minutes = sum((parse_duration(b) + OVERHEAD_S) * (2 * searches + presets)
                  for b, searches, presets in todo) / 60
    print(f"plan: {len(datasets)} datasets x {len(budgets)} budgets x {len(seeds)} search seeds; "
          f"not yet in {out}: {sum(t[1] for t in todo)} searches (+ refit, about as long "
          f"again) and {sum(t[2] for t in todo)} preset runs: about {minutes:.0f} min on this "
          "machine; memory: what `run --time-budget` plans (<= 70% of RAM)", flush=True)
    for name in datasets:
        data = prepare(name, work)
        entry = results["datasets"].setdefault(name, {"budgets": {}})
        entry["truth_ceiling"] = truth_ceiling(data)
        for budget in budgets:
            label = " ".join((budget, *run_args))
            arms = entry["budgets"].setdefault(label, {"search": {}, "presets": {}})
            for seed in seeds:
                if str(seed) not in arms["search"]:
                    arms["search"][str(seed)] = search_arm(data, budget, seed, work, run_args)
                    save(results, out)
                    print(f"{name} {label} search seed {seed}: "
                          f"{arms['search'][str(seed)]['model']}", flush=True)
            width = next(iter(arms["search"].values()))["width"]
            plain = entry["budgets"].get(budget, {}).get("presets", {})  # same budget and width
            for preset in PRESETS:
                if preset not in arms["presets"]:
                    same = plain.get(preset)
                    arms["presets"][preset] = same if same and same["width"] == width \
                        else preset_arm(data, budget, preset, width, work)
                    save(results, out)
                    print(f"{name} {budget} {preset}: {arms['presets'][preset]['model']}",
                          flush=True)
    return results


def save(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(results, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budgets", default="3m,10m", help="comma-separated durations")
    parser.add_argument("--seeds", default="0,1,2", help="search seeds")
    parser.add_argument("--work", default="/tmp/prixfixe-held-out",
                        help="data, runs, models and logs")
    parser.add_argument("--out", default="benchmarks/results/held_out.json")
    parser.add_argument("--run-args", default="",
                        help="more `run` options for the search arm (e.g. '--epochs 45 --width "
                        "tiny'): a variant kept beside the plain budget, labelled by them")
    parser.add_argument("--table-only", action="store_true", help="print the saved results")
    parser.add_argument("--reselect", action="store_true",
                        help="choose, write and score the saved searches' ensembles again with "
                        "this code (after a change to refit's selection; nothing retrained)")
    parser.add_argument("--plot", default="benchmarks/results/held_out.png",
                        help="the figure (one panel per dataset and metric); '' for none")
    args = parser.parse_args()
    results = (json.loads(Path(args.out).read_text()) if args.table_only
               else reselect(args) if args.reselect else run(args))
    print(table(results))
    if args.plot:
        plot(results, Path(args.plot))
        print(f"figure: {args.plot}")


if __name__ == "__main__":
    main()
