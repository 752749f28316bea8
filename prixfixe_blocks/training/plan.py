"""What a training run will cost, said before it starts: batches, sequences and passes.

`TrainPlan` is the one description of a run's length, shared by `train` (printed before the
first batch), the progress display (its totals) and `run` (the per-trial plan and the search's
time estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prixfixe_blocks.errors import ConfigError

# The DREAM presets' batch of 1024 was sized for 6.7M rows (6,500 steps per pass); a budgeted
# run on fewer rows takes the largest power of two that still gives this many steps per pass.
MIN_STEPS_PER_PASS = 32
MIN_BUDGET_BATCH = 32


@dataclass(frozen=True)
class TrainPlan:
    """A run's length: `epochs` epochs of `batches` batches of `batch_size` over `rows` training
    rows. `one_pass`: an epoch is one pass over the rows (its last batch may be short);
    otherwise a fixed batch count streaming through passes (every batch full)."""

    rows: int
    batch_size: int
    batches: int
    epochs: int
    one_pass: bool

    @property
    def sequences(self) -> int:
        """Training sequences per epoch."""
        return self.rows if self.one_pass else self.batches * self.batch_size

    @property
    def passes(self) -> float:
        """Passes over the training rows per epoch."""
        return self.sequences / max(self.rows, 1)

    @property
    def total_sequences(self) -> int:
        """Training sequences of the whole run."""
        return self.sequences * self.epochs

    def describe(self) -> str:
        """`epoch = N batches x B = S sequences = P passes over R rows; E epochs (T sequences)`."""
        passes = "1 pass" if self.one_pass else f"{self.passes:,.2f} passes"
        return (f"epoch = {self.batches:,} batches x {self.batch_size:,} = {self.sequences:,} "
                f"sequences = {passes} over {self.rows:,} training rows; {self.epochs:,} "
                f"epochs ({self.total_sequences:,} sequences)")


def make_plan(rows: int, batch_size: int, batches_per_epoch: int | None,
              epochs: int) -> TrainPlan:
    """The plan of `epochs` epochs over `rows` rows (batches_per_epoch None: one pass each)."""
    if rows < 1 or batch_size < 1 or epochs < 1:
        raise ConfigError(f"a training plan needs rows, batch size and epochs >= 1, got {rows}, "
                          f"{batch_size}, {epochs}")
    if batches_per_epoch is None:
        return TrainPlan(rows, batch_size, math.ceil(rows / batch_size), epochs, True)
    return TrainPlan(rows, batch_size, int(batches_per_epoch), epochs, False)


def batch_for_rows(rows: int, batch: int) -> int:
    """The batch size a budgeted run uses on `rows` training rows: `batch`, or a smaller power
    of two giving at least MIN_STEPS_PER_PASS optimizer steps per pass (never below
    MIN_BUDGET_BATCH)."""
    fitting = 2 ** max(0, math.floor(math.log2(max(rows, 1) / MIN_STEPS_PER_PASS)))
    return max(min(batch, fitting), min(batch, MIN_BUDGET_BATCH))


def format_duration(seconds: float) -> str:
    """`1d 02:03:04`, `02:03:04` or `03:04` (unknown: `?`)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = int(round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{minutes:02d}:{secs:02d}"
    if hours or days:
        clock = f"{hours:02d}:{clock}"
    return f"{days}d {clock}" if days else clock


def format_rate(per_second: float) -> str:
    """Sequences per second: `1,234 seq/s`, or one decimal below 10 (`0.6 seq/s`)."""
    return f"{per_second:,.1f} seq/s" if per_second < 10 else f"{per_second:,.0f} seq/s"
