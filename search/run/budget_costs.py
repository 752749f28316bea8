"""What one trial costs at each width on this machine: the inputs of `budget.plan_budget`.

The DREAM presets of the space at a width (or a few sampled configurations of a space without
presets) are built on the real data and one small batch is timed (`estimate.time_model`), as the
dry run does. Peak memory is read from the kernel's high-water mark of this process around the
timing (reset before it: /proc/self/clear_refs), less what the process held before, scaled from
the timing batch to the trial's batch (activations grow linearly with it), plus what a Ray worker
holds before it trains (`WORKER_GB`). A wider width is not timed when the narrower one already
shows that the budget cannot afford it (`WIDTH_COST_GROWTH`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prixfixe_blocks.ranges import WIDTHS
from search.run.budget import MIN_EPOCHS, MIN_TRIALS, WidthCost
from search.run.estimate import CPU_TIMING_BATCH, time_model
from spaces import config_to_spec, load_space, sample_configs

WORKER_GB = 1.0  # a Ray worker with torch, the data and the model before its first batch
WIDTH_COST_GROWTH = 4.0  # the least a width step multiplies the time per sequence (measured ~10x)
_KB = 1024.0**2  # kB per GB


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
    """(run(), GB of memory the call added at its peak; 0 where the kernel cannot say)."""
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
        configs = space.points() or sample_configs(space, 2, seed=seed)
        timings = []
        for config in configs:
            spec = config_to_spec(config, overrides)
            (train, predict, build), gb = measure_peak(lambda s=spec: time_model(
                s, data, val_folds, seed, device, threads))
            batch = int(spec.strategy.batch_size)
            scale = batch / min(batch, CPU_TIMING_BATCH) if device == "cpu" else 1.0
            timings.append((train, predict, build, WORKER_GB + gb * scale))
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
