"""What one trial costs at each width on this machine: the inputs of `budget.plan_budget`.

The DREAM presets of the space at a width (or a few sampled configurations of a space without
presets) are built on the real data and one small batch is timed (`estimate.time_model`), as the
dry run does. Peak memory is read from the kernel's high-water mark of this process around the
timing (reset before it: /proc/self/clear_refs), less what the process held before, at two
small batches: their difference is the activations per sequence (they grow linearly with the
batch), scaled to the trial's batch; the rest is the model, optimizer and data; plus what a Ray
worker holds before it trains (`WORKER_GB`). A wider width is not timed when the narrower one
already shows that the budget cannot afford it (`WIDTH_COST_GROWTH`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from prixfixe_blocks.ranges import WIDTHS
from prixfixe_blocks.strategies.strategy_spec import BATCH_SIZES
from prixfixe_blocks.training.plan import MIN_STEPS_PER_PASS, batch_for_rows
from search.run.budget import MAX_EPOCHS, MIN_EPOCHS, MIN_TRIALS, WidthCost, plan_budget
from search.run.estimate import CPU_RATE_BATCH, CPU_TIMING_BATCH, row_counts, time_model
from search.run.options import SearchOptions, run_overrides
from spaces import config_to_spec, load_space, parse_fixes, sample_configs

WORKER_GB = 1.0  # a Ray worker with torch, the data and the model before its first batch
WIDTH_COST_GROWTH = 4.0  # the least a width step multiplies the time per sequence (measured ~10x)
_KB = 1024.0**2  # kB per GB
BATCH_KEY = "strategy.batch_size"


def _status_kb(field: str) -> float | None:
    """A field of /proc/self/status in kB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def measure_peak(run: Any) -> tuple[Any, float]:
    """(run(), GB of memory the call added at its peak; 0 where the kernel cannot say). Freed
    heap is handed back first (malloc_trim), so what an earlier call left cached is not
    counted as this call's."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
    except OSError:
        before = None
    result = run()
    peak = _status_kb("VmHWM")
    return result, (max(0.0, peak - before) / _KB if before and peak else 0.0)


def width_costs(space_name: str, fixed: dict[str, Any], overrides: dict[str, Any], data: str,
                val_folds: tuple[int, ...], seed: int, device: str, threads: int,
                too_costly: Any) -> list[WidthCost]:
    """Each width's `WidthCost`, narrowest first; stops before a width that `too_costly(cost)`
    says the budget cannot afford (given the narrower width's cost scaled by
    `WIDTH_COST_GROWTH`)."""
    costs: list[WidthCost] = []
    for width in WIDTHS:
        if costs and too_costly(_scaled(costs[-1], WIDTH_COST_GROWTH)):
            break
        space = load_space(space_name, width=width, fixed=fixed)
        # the presets as trials get them (the space's constants too, e.g. the width's
        # block_sizes: a bare point would build the published core)
        configs = sample_configs(space, len(space.points()) or 2, seed=seed)
        timings = []
        for config in configs:
            spec = config_to_spec({**config, **fixed}, overrides)  # --fix values win
            small = min(int(spec.strategy.batch_size), CPU_TIMING_BATCH)
            large = max(min(int(spec.strategy.batch_size), CPU_RATE_BATCH), small + 1)
            _, gb_small = measure_peak(lambda s=spec, b=small: time_model(
                s, data, val_folds, seed, device, threads, batch=b))
            # timed at the larger batch, after the first (warm): small batches cost more per
            # sequence (measured 2-5x at 64 vs 1024 on 2 cores)
            (train, predict, build), gb_large = measure_peak(lambda s=spec, b=large: (
                time_model(s, data, val_folds, seed, device, threads, batch=b, warmup=True)))
            per_seq = max(0.0, gb_large - gb_small) / (large - small)  # activations, per seq
            base_gb = max(0.0, gb_small - per_seq * small)  # model, optimizer, data
            memory = WORKER_GB + base_gb + per_seq * int(spec.strategy.batch_size)
            timings.append((train, predict, build, memory))
        n = len(timings)
        costs.append(WidthCost(width, *(sum(t[i] for t in timings) / n for i in range(3)),
                               max(t[3] for t in timings)))
    return costs


def _scaled(cost: WidthCost, factor: float) -> WidthCost:
    return WidthCost(cost.width, cost.train_s * factor, cost.predict_s * factor,
                     cost.build_s, cost.memory_gb)


def affordable(budget_s: float, n_train: int, n_val: int, slots: int) -> Any:
    """`too_costly` for `width_costs`: whether MIN_TRIALS trials of MIN_EPOCHS passes at this
    cost exceed the budget."""
    def too_costly(cost: WidthCost) -> bool:
        waves = -(-MIN_TRIALS // max(slots, 1))
        return waves * MIN_EPOCHS * cost.epoch_s(n_train, n_val) > budget_s
    return too_costly


def node_memory_gb() -> float:
    """This machine's memory in GB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024.0**3


def fit_batch(opts: SearchOptions, n_train: int) -> SearchOptions:
    """`opts` with the batch size pinned to `batch_for_rows` when the space's largest batch
    would give a pass fewer than MIN_STEPS_PER_PASS steps (unless --fix pins one)."""
    largest = max(BATCH_SIZES)
    batch = batch_for_rows(n_train, largest)
    if BATCH_KEY in parse_fixes(opts.fix) or batch == largest:
        return opts
    print(f"batch size {batch} for every trial: {n_train:,} training rows give a pass of at "
          f"least {MIN_STEPS_PER_PASS} steps (the presets' {largest} was sized for 6.7M rows; "
          f"--fix {BATCH_KEY}=N to choose)", flush=True)
    return replace(opts, fix=[*opts.fix, f"{BATCH_KEY}={batch}"])


def apply_budget(opts: SearchOptions) -> SearchOptions:
    """`opts` with the width, passes, trials, trials at a time and first rung that its time
    budget affords on this machine (`budget.plan_budget`); the time spent measuring comes off
    the budget, so the whole run ends within it."""
    start, budget = time.time(), float(opts.time_budget or 0)
    n_train, n_val = row_counts(opts.data, opts.val_folds)
    cpus = opts.num_cpus or os.cpu_count() or 1
    slots = max(1, int(cpus // max(opts.cpus_per_trial, 1e-9)))
    gpu = bool(opts.gpus_per_trial) and torch.cuda.is_available()
    opts = fit_batch(opts, n_train)
    print(f"planning for a time budget of {budget:.0f} s: timing each DREAM preset at each "
          f"affordable width on {n_train:,} training rows ...", flush=True)
    costs = width_costs(opts.space, parse_fixes(opts.fix), run_overrides(opts), opts.data,
                        tuple(opts.val_folds), opts.seed, "cuda" if gpu else "cpu",
                        int(max(1, opts.cpus_per_trial)),
                        affordable(budget, n_train, n_val, slots))
    left = max(1.0, budget - (time.time() - start))
    plan = plan_budget(left, costs, n_train, n_val, slots=slots, memory_gb=node_memory_gb(),
                       max_epochs=opts.max_epochs or MAX_EPOCHS)
    for cost in costs:
        print(f"  width {cost.width}: {1 / max(cost.train_s, 1e-12):,.0f} training seq/s per "
              f"trial, ~{cost.memory_gb:.1f} GB per trial")
    for line in plan.lines():
        print(line)
    per_trial = max(opts.cpus_per_trial, float(cpus // plan.parallel))  # idle cores help
    return replace(opts, width=plan.width, epochs=plan.epochs, trials=plan.trials,
                   max_concurrent=plan.parallel, grace_period=plan.grace, time_budget=left,
                   cpus_per_trial=per_trial, budget_plan=False)
