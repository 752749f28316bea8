"""Progress of a training run while it runs: rate and time left, without extra dependencies.

On a terminal one status line is redrawn in place (a bar, sequences/s, the epoch's and the
run's time left); otherwise (a log file, CI, a pipe) a plain line is printed every
`PLAIN_EVERY_S` seconds so that logs stay readable. Messages (epoch summaries) go above it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from prixfixe_blocks.training.plan import TrainPlan, format_duration, format_rate

PLAIN_EVERY_S = 10.0  # seconds between plain progress lines when not on a terminal
REDRAW_EVERY_S = 0.2  # at most this often the terminal line is redrawn
BAR_WIDTH = 24


class Progress:
    """Shows a run's progress against its plan; `batch` after every training batch, `log` for
    messages. `start_epoch`: epochs already done (a resumed run)."""

    def __init__(self, plan: TrainPlan, *, start_epoch: int = 0, stream: TextIO | None = None,
                 tty: bool | None = None, every: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.start_epoch = plan, start_epoch
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.every, self.clock = every, clock
        self.start = self.last_shown = clock()
        self.epoch_start, self.epoch_seen = self.start, 0
        self._drawn = False

    def batch(self, epoch: int, batches: int, rows: int) -> None:
        """After a training batch: `batches` batches and `rows` rows done in epoch `epoch`
        (0 and 0: the epoch starts, which times its rate)."""
        now = self.clock()
        if batches == 0 or epoch != self.epoch_seen:
            self.epoch_seen, self.epoch_start = epoch, now
            if batches == 0:
                return
        wait = REDRAW_EVERY_S if self.tty else self.every
        if now - self.last_shown < wait and batches < self.plan.batches:
            return
        self.last_shown = now
        line = self.line(epoch, batches, rows, now)
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, epoch: int, batches: int, rows: int, now: float) -> str:
        """The status text: epoch, bar, batches, rate, time left in the epoch and the run."""
        plan = self.plan
        rate = rows / max(now - self.epoch_start, 1e-9)
        epoch_left = (plan.sequences - rows) / rate if rows else float("nan")
        done = (epoch - 1 - self.start_epoch) * plan.sequences + rows
        left = (plan.epochs - epoch) * plan.sequences + plan.sequences - rows
        run_left = (now - self.start) * left / done if done else float("nan")
        filled = min(BAR_WIDTH, BAR_WIDTH * batches // max(plan.batches, 1))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return (f"epoch {epoch}/{plan.epochs} [{bar}] {batches}/{plan.batches} batches, "
                f"{format_rate(rate)}, epoch left {format_duration(epoch_left)}, run left "
                f"{format_duration(run_left)}")

    def log(self, message: str) -> None:
        """Print a message (above the terminal's status line)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
        self.stream.write(message + "\n")
        self.stream.flush()
