"""One knob: a time budget becomes a search plan (width, passes, trials, trials at a time).

`run --time-budget 30m` without --width, --epochs or --trials measures what one trial costs at
each width on this machine (`WidthCost`: seconds per training and per predicted sequence, the
build, the peak memory of one trial) and `plan_budget` picks:
- trials at a time: the CPUs (or GPUs) a trial gets, and as many as fit in `MEMORY_FRACTION` of
  the node's memory (concurrent trials that do not fit are what got searches killed);
- the widest width at which the search still affords `MIN_TRIALS` trials (the DREAM presets
  enqueued first, so the search starts no worse than they are at that width) of at least
  `WIDE_EPOCHS` passes under ASHA, else the width that affords the most passes;
- the most passes (epochs, the fidelity ASHA spends: a trial still improving earns the next rung,
  one on a plateau stops) up to `MAX_EPOCHS` (`run --max-epochs`), then as many trials as the
  rest of the budget buys.
Capacity is searched around the chosen width: every width field ranges over half to twice its
value there (`ranges.Widths`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.presets import AUTOSOME_STRATEGY
from prixfixe_blocks.ranges import WIDTHS
from search.run.estimate import asha_rungs, expected_epochs
from search.study.searcher import ASHA_REDUCTION, first_rung

MIN_TRIALS = 8  # the presets plus a few sampled configurations
WIDE_EPOCHS = 8  # passes a width must afford before a wider one is preferred to more passes
MIN_EPOCHS = 3
# The DREAM presets' epochs, what `train --time-budget` gives a preset alone: no trial of the
# search is capped below that (a cap of 20 lost to DREAM-CNN trained alone on small data).
MAX_EPOCHS = AUTOSOME_STRATEGY.epochs
MEMORY_FRACTION = 0.7  # of the node's memory, for all concurrent trials (Ray kills at 0.95)
USABLE_FRACTION = 0.85  # of the budget planned for trials (start-up, stragglers, the summary)
# kept off the search's clock: the wrap-up after it stops (trials stopped, leaderboard, plot, best
# model, MLflow summary: 13 s measured for 16 trials on 2 cores) and the interpreter's start and
# imports before `run_search` (~3 s): with 15 s a 600-s `run` took 603 s
WRAP_UP_S = 20.0
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> float:
    """Seconds of `90`, `90s`, `30m`, `1.5h`, `1h30m` or `2d`."""
    value = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(min|s|m|h|d)", value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        raise ConfigError(f"--time-budget: cannot read '{text}' (examples: 600, 90s, 30m, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def clock_budget(budget_s: float, spent_s: float) -> float:
    """Seconds the search's clock may run so that `run` ends within `budget_s`: less the
    `spent_s` already gone (planning, checks, Ray start-up) and `WRAP_UP_S` for the wrap-up;
    ConfigError when nothing is left for trials."""
    left = budget_s - spent_s - WRAP_UP_S
    if left <= 0:
        raise ConfigError(f"--time-budget {budget_s:g} s leaves no time for trials: start-up "
                          f"took {spent_s:.0f} s and the wrap-up needs ~{WRAP_UP_S:.0f} s (give "
                          f"at least {math.ceil(spent_s + WRAP_UP_S + 60)} s)")
    return left


@dataclass(frozen=True)
class WidthCost:
    """One trial's measured cost at a width (mean over the DREAM presets)."""

    width: str
    train_s: float  # seconds per training sequence
    predict_s: float  # seconds per predicted sequence (validation, both strands)
    build_s: float  # building the trial (model, data)
    memory_gb: float  # peak memory of one trial at its batch size

    def epoch_s(self, n_train: int, n_val: int) -> float:
        return n_train * self.train_s + n_val * self.predict_s


@dataclass(frozen=True)
class BudgetPlan:
    """What the budget buys; `lines()` says it before the search starts."""

    budget_s: float
    width: str
    epochs: int
    grace: int
    trials: int
    parallel: int
    mean_epochs: float
    trial_s: float  # one trial at the mean epochs
    memory_gb: float
    fits: bool  # False: even the cheapest plan exceeds the budget

    @property
    def expected_s(self) -> float:
        return math.ceil(self.trials / self.parallel) * self.trial_s

    def lines(self) -> list[str]:
        out = [f"budget plan ({self.budget_s:.0f} s): width {self.width} (each width field "
               f"searched from half to twice its value), up to {self.epochs} passes per trial "
               f"(ASHA from pass {self.grace}, {self.mean_epochs:.1f} on average), "
               f"{self.trials} trials, {self.parallel} at a time "
               f"(~{self.memory_gb:.1f} GB each); expected {self.expected_s:.0f} s"]
        if not self.fits:
            out.append("warning: the budget is short even for this smallest plan; the search "
                       "stops when it runs out (give a longer --time-budget)")
        return out


def plan_budget(budget_s: float, costs: list[WidthCost], n_train: int, n_val: int, *,
                slots: int, memory_gb: float, max_epochs: int = MAX_EPOCHS) -> BudgetPlan:
    """The plan for `budget_s` seconds (module docstring). `slots`: trials the CPUs/GPUs run at
    once; `memory_gb`: the node's memory; `max_epochs`: the most passes a trial may get."""
    if budget_s <= 0:
        raise ConfigError(f"--time-budget must be positive, got {budget_s:g}")
    check_max_epochs(max_epochs)
    plans = [p for cost in sorted(costs, key=lambda c: WIDTHS.index(c.width))
             if (p := _plan_width(budget_s, cost, n_train, n_val, slots, memory_gb,
                                  max_epochs))]
    if not plans:
        measured = ", ".join(f"{c.width} {c.memory_gb:.1f} GB" for c in costs)
        raise ConfigError(f"no width fits one trial in {memory_gb * MEMORY_FRACTION:.1f} GB "
                          f"of memory (measured per trial: {measured})")
    wide = [p for p in plans if p.fits and p.epochs >= WIDE_EPOCHS]
    if wide:
        return wide[-1]
    fitting = [p for p in plans if p.fits]
    return max(fitting, key=lambda p: (p.epochs, -WIDTHS.index(p.width))) if fitting else plans[0]


def check_max_epochs(max_epochs: int) -> None:
    """ConfigError unless `max_epochs` leaves the plan a choice (at least `MIN_EPOCHS`)."""
    if max_epochs < MIN_EPOCHS:
        raise ConfigError(f"--max-epochs must be at least {MIN_EPOCHS}, got {max_epochs}")


def _plan_width(budget_s: float, cost: WidthCost, n_train: int, n_val: int, slots: int,
                memory_gb: float, max_epochs: int) -> BudgetPlan | None:
    """The most passes (then trials) at one width; None when one trial does not fit in memory."""
    by_memory = math.floor(memory_gb * MEMORY_FRACTION / max(cost.memory_gb, 1e-9))
    if by_memory < 1:
        return None
    parallel = max(1, min(slots, by_memory))
    usable = budget_s * USABLE_FRACTION
    best = None
    for epochs in range(MIN_EPOCHS, max_epochs + 1):
        grace = first_rung(epochs)
        mean = expected_epochs(epochs, asha_rungs(epochs, grace, ASHA_REDUCTION), ASHA_REDUCTION)
        trial_s = cost.build_s + mean * cost.epoch_s(n_train, n_val)
        trials = math.floor(usable / trial_s) * parallel
        plan = BudgetPlan(budget_s, cost.width, epochs, grace, max(trials, MIN_TRIALS), parallel,
                          mean, trial_s, cost.memory_gb, fits=trials >= MIN_TRIALS)
        if not plan.fits:
            break
        best = plan
    if best is None:  # not even MIN_TRIALS of MIN_EPOCHS: the smallest plan, flagged
        grace = first_rung(MIN_EPOCHS)
        mean = expected_epochs(MIN_EPOCHS, asha_rungs(MIN_EPOCHS, grace, ASHA_REDUCTION),
                               ASHA_REDUCTION)
        trial_s = cost.build_s + mean * cost.epoch_s(n_train, n_val)
        best = BudgetPlan(budget_s, cost.width, MIN_EPOCHS, grace, MIN_TRIALS, parallel, mean,
                          trial_s, cost.memory_gb, fits=False)
    return best
