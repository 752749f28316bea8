"""GPU run book: everything worth measuring on one lent NVIDIA GPU, in at most 8 minutes.

    bash benchmarks/gpu_check.sh OUT_DIR            # on the GPU machine (or:)
    python benchmarks/gpu_check.py --out OUT_DIR    # --cpu: the CPU rehearsal (~30 s of CPU)

Prints its plan and each section's time budget first, then runs, on simulated DREAM-like data:
1. throughput: training sequences/s and peak GPU memory (torch.cuda.max_memory_allocated) of
   dream-cnn, dream-rnn and dream-attn at batch 1024 in four modes: fp32, bf16, bf16 +
   length-major ("channels last") inputs, bf16 + torch.compile (bench_train.py's functions);
2. epoch: one DREAM-CNN epoch on the published schedule (1000 x 1024) fed by the shard loader:
   seconds waiting for batches and encoding them vs seconds in the step, loader-bound or not;
3. search: a 4-trial `prixfixe-search run` with --gpus-per-trial 0.5 (two trials per GPU).
Each section has a time budget (unused seconds pass to the next) and runs in its own process,
stopped 20 s past it: a section cut short is reported "out of time" with what it measured.
Writes ONE results file, OUT_DIR/gpu_check.json (device, torch version, every figure, the goal
"DREAM-CNN >= 60k training sequences/s on one H100/H200" and whether it was met, and the text
table that is also printed). Exit 0 when every section ran to the end, 1 otherwise.
The CPU rehearsal (`--cpu`: tiny widths, batch 8, a few steps, a 2-trial search, torch.compile
with dynamo's eager backend, one thread per process) is what tests/test_gpu_check.py runs.
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
from gpu_search import GRACE_S, run_bounded, search_section
from gpu_sections import (
    CPU,
    DONE,
    GOAL_PRESET,
    GPU,
    OUT_OF_TIME,
    RUNNING,
    SECTIONS,
    Mode,
    Sink,
    cells,
)

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.presets import get_preset

REPO = Path(__file__).resolve().parents[1]
RESULTS_FILE = "gpu_check.json"
LIMIT_S = 480.0  # the lent GPU window: 8 minutes for everything
REPORT_S = 5.0  # writing the results file
MIN_SECTION_S = 10.0  # a section given less is reported out of time, not started
GOAL_SEQS_PER_S = 60_000
GOAL = f"DREAM-CNN >= {GOAL_SEQS_PER_S // 1000}k training sequences/s on one H100/H200"
WHAT = {
    "setup": "simulate {rows:,} DREAM-like rows",
    "throughput": "3 presets x 4 modes, batch {batch_size}, 2 epochs of {bench_batches} "
                  "batches each",
    "epoch": "one dream-cnn epoch ({epoch}), loader vs step",
    "search": "{trials}-trial search, {gpus_per_trial:g} GPU per trial",
}


def plan(mode: Mode, limit_s: float) -> list[tuple[str, float]]:
    """(section, planned seconds), scaled down to fit in `limit_s` with room for the last
    section's grace and the report."""
    total = sum(s for _, s in mode.plan_s)
    scale = min(1.0, (limit_s - GRACE_S - REPORT_S) / total)
    return [(name, seconds * scale) for name, seconds in mode.plan_s]


def print_plan(mode: Mode, sections: list[tuple[str, float]], limit_s: float) -> None:
    published = get_preset(GOAL_PRESET).strategy.batches_per_epoch
    epoch = f"{mode.epoch_batches} batches" if mode.epoch_batches else \
        f"published: {published} batches"
    print(f"gpu_check ({mode.name} mode): {limit_s:.0f} s in all; unused seconds pass on")
    for name, seconds in sections:
        what = WHAT[name].format(epoch=epoch, **vars(mode))
        print(f"  {name:<11} {seconds:>4.0f} s  {what}")
    print(flush=True)


def device_doc(mode: Mode) -> dict[str, Any]:
    cuda = mode.device == "cuda"
    return {"device": torch.cuda.get_device_name() if cuda else "CPU", "torch": torch.__version__,
            "cuda": torch.version.cuda if cuda else None, "cpus": os.cpu_count()}


def child_section(name: str, mode: Mode, data: Path, budget_s: float, work: Path,
                  env: dict[str, str]) -> dict[str, Any]:
    """Run a training section in its own process (this file, --section); kill it at the limit
    and keep what its result file holds by then."""
    result = work / f"{name}.json"
    cmd = [sys.executable, __file__, "--section", name, "--data", str(data),
           "--section-budget", f"{budget_s:.1f}", "--result", str(result)]
    cmd += ["--cpu"] if mode.device == "cpu" else []
    code, _ = run_bounded(cmd, budget_s + GRACE_S, env)
    doc = json.loads(result.read_text()) if result.is_file() else {"status": "not started"}
    return settle(name, doc, code, budget_s + GRACE_S)


def settle(name: str, doc: dict[str, Any], code: int | None, limit_s: float) -> dict[str, Any]:
    """A section's result as its process left it (`code` None: killed at `limit_s`): out of
    time or an error if it did not end by itself; throughput also lists the cell it was
    stopped in and the cells it never reached."""
    stopped = f"{OUT_OF_TIME}: stopped at {limit_s:.0f} s" if code is None else \
        f"error (exit {code})"
    if code != 0 and doc["status"] in (DONE, RUNNING, "not started"):
        doc["status"] = stopped
    if name == "throughput":
        done = doc.setdefault("cells", [])
        for cell in done:
            if cell["status"] == RUNNING:
                cell["status"] = f"{stopped} while running"
        seen = {(c["variant"], c["preset"]) for c in done}
        done.extend({"preset": p, "variant": v, "status": f"{OUT_OF_TIME}: not reached"}
                    for v, p in cells() if (v, p) not in seen)
    return doc


def run_all(mode: Mode, limit_s: float, work: Path) -> dict[str, Any]:
    """Every section in turn, each within its budget plus what earlier ones left unused."""
    sections, start = plan(mode, limit_s), time.monotonic()
    print_plan(mode, sections, limit_s)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(mode.env)
    data, results, planned = work / "sim", {}, 0.0
    for name, seconds in sections:
        planned += seconds
        budget = planned - (time.monotonic() - start)
        print(f"== {name}: {budget:.0f} s", flush=True)
        t0 = time.monotonic()
        if budget < MIN_SECTION_S:
            results[name] = {"status": f"{OUT_OF_TIME}: not started ({budget:.0f} s left)"}
        elif name == "setup":
            simulate(data, mode.rows, seed=0)
            results[name] = {"status": DONE, "rows": mode.rows}
        elif name == "search":
            results[name] = search_section(mode, data, work, budget, env)
        else:
            results[name] = child_section(name, mode, data, budget, work, env)
        results[name].update(budget_s=budget, seconds=time.monotonic() - t0)
    return results


def goal(mode: Mode, throughput: dict[str, Any]) -> dict[str, Any]:
    """The goal and whether the best DREAM-CNN mode met it (None: not measured / CPU)."""
    rates = {c["variant"]: c["seqs_per_s"] for c in throughput.get("cells", [])
             if c["preset"] == GOAL_PRESET and c["status"] == DONE}
    best = max(rates, key=rates.__getitem__, default=None)
    doc: dict[str, Any] = {"goal": GOAL, "target_seqs_per_s": GOAL_SEQS_PER_S,
                           "best_variant": best, "best_seqs_per_s": rates.get(best)}
    judged = mode.device == "cuda" and best is not None
    doc["met"] = rates[best] >= GOAL_SEQS_PER_S if judged else None
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """The short text table of a results document."""
    g, sec = doc["goal"], doc["sections"]
    verdict = {True: "MET", False: "NOT MET", None: "not judged"}[g["met"]]
    best = f" ({g['best_seqs_per_s']:,.0f} seq/s, {g['best_variant']})" if g["best_variant"] \
        else ""
    lines = [f"gpu_check {doc['mode']} mode on {doc['device']}, torch {doc['torch']}, "
             f"{doc['wall_s']:.0f} s of {doc['limit_s']:.0f} s",
             f"goal: {g['goal']}: {verdict}{best}"]
    thr = sec["throughput"]
    lines.append(f"throughput, batch {thr.get('batch_size', '?')} (seq/s / peak MB; "
                 f"{thr['status']}):")
    variants = list(dict.fromkeys(c["variant"] for c in thr["cells"]))
    lines.append(f"  {'preset':<11}" + "".join(f"{v:>22}" for v in variants))
    for preset in dict.fromkeys(c["preset"] for c in thr["cells"]):
        row = {c["variant"]: c for c in thr["cells"] if c["preset"] == preset}
        lines.append(f"  {preset:<11}" + "".join(f"{_cell(row[v]):>22}" for v in variants))
    ep = sec["epoch"]
    if "wall_s" in ep:
        lines.append(
            f"epoch: {ep['preset']} {ep['variant']}, {ep['batches_done']}/{ep['batches_planned']}"
            f" batches x {ep['batch_size']}: {ep['seqs_per_s']:,.0f} seq/s; waiting for batches "
            f"{ep['wait_s']:.1f} s + encoding {ep['encode_s']:.1f} s vs step {ep['step_s']:.1f} s"
            f": {'LOADER-BOUND' if ep['loader_bound'] else 'not loader-bound'} ({ep['status']})")
    else:
        lines.append(f"epoch: {ep['status']}")
    se = sec["search"]
    if "trials_finished" in se:
        lines.append(
            f"search: {se['trials_finished']}/{se['trials']} trials finished in "
            f"{se['wall_s']:.0f} s, up to {se['max_concurrent']} at once, GPU ids "
            f"{se['gpu_ids'] or '-'}; median trial {_num(se['median_trial_seqs_per_s'], ',.0f')}"
            f" seq/s, best val r {_num(se['best_val_pearson'], '.3f')} ({se['status']})")
    else:
        lines.append(f"search: {se['status']}")
    return lines


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cell(cell: dict[str, Any]) -> str:
    if cell["status"] != DONE:
        return cell["status"].split(":")[0]  # "out of time", "error"
    return f"{cell['seqs_per_s']:,.0f} / {cell['peak_memory_mb']:,.0f}"


def check(mode: Mode, out: Path, limit_s: float) -> int:
    """Run everything, write OUT/gpu_check.json (atomically), print the table."""
    start = time.monotonic()
    doc: dict[str, Any] = {"mode": mode.name, **device_doc(mode), "limit_s": limit_s}
    with tempfile.TemporaryDirectory(prefix="gpu-check-", ignore_cleanup_errors=True) as tmp:
        doc["sections"] = run_all(mode, limit_s, Path(tmp))
    doc.update(wall_s=time.monotonic() - start, goal=goal(mode, doc["sections"]["throughput"]))
    doc["table"] = table(doc)
    atomic_write_text(out / RESULTS_FILE, json.dumps(doc, indent=1, allow_nan=False))
    print("\n".join(["", *doc["table"], f"results: {out / RESULTS_FILE}"]))
    return 0 if all(s["status"] == DONE for s in doc["sections"].values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"),
                        help="directory for gpu_check.json (default ./gpu-check)")
    parser.add_argument("--cpu", action="store_true",
                        help="the CPU rehearsal: tiny widths, batch 8, a few steps")
    parser.add_argument("--limit", type=float, default=LIMIT_S,
                        help=f"seconds for everything (default {LIMIT_S:.0f})")
    for hidden in ("--section", "--data", "--section-budget", "--result"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    mode = CPU if args.cpu else GPU
    if args.section:  # a child: one training section
        if mode.device == "cpu":
            compile_with_eager_backend()
        sink = Sink(Path(args.result))
        SECTIONS[args.section](mode, Path(args.data), float(args.section_budget), sink)
        return 0
    if mode.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU visible to torch {torch.__version__} "
              f"(CUDA build: {torch.version.cuda}); run with --cpu for the CPU rehearsal",
              file=sys.stderr)
        return 2
    return check(mode, args.out, args.limit)


def compile_with_eager_backend() -> None:
    """CPU rehearsal only: torch.compile traces with dynamo but runs eagerly (inductor's C++
    build takes minutes per model on 2 cores); the GPU mode compiles with inductor."""
    compile_fn = torch.compile

    def eager(model: Any = None, **kwargs: Any) -> Any:
        return compile_fn(model, **{**kwargs, "backend": "eager"})

    torch.compile = eager  # type: ignore[assignment]


if __name__ == "__main__":
    sys.exit(main())
