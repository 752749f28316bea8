"""Progress of a training run while it runs: batches, sequences/s and time left.

On a terminal each epoch gets a `rich.progress` bar, redrawn in place and left on screen when
the epoch ends; messages (epoch summaries) print above a running bar. Anywhere else (a log file,
CI, a pipe) there are no control codes: the same figures as a plain line every `PLAIN_EVERY_S`
seconds and at an epoch's last batch, so that logs stay readable.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as Bar

from prixfixe_blocks.training.plan import TrainPlan, format_duration, format_rate

PLAIN_EVERY_S = 10.0  # seconds between plain progress lines when not on a terminal
REDRAW_EVERY_S = 0.2  # at most this often the terminal bar is redrawn
BAR_WIDTH = 24


class Progress:
    """Shows a run's progress against its plan; `batch` after every training batch, `log` for
    messages. `start_epoch`: epochs already done (a resumed run). `tty` None: whether `stream`
    is a terminal."""

    def __init__(self, plan: TrainPlan, *, start_epoch: int = 0, stream: TextIO | None = None,
                 tty: bool | None = None, every: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.start_epoch = plan, start_epoch
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.console = Console(file=self.stream, force_terminal=self.tty)
        self.every, self.clock = every, clock
        self.start = self.last_shown = clock()
        self.epoch_start, self.epoch_seen = self.start, 0
        self._bars: list[Bar] = []  # the running epoch's bar, if any
        weakref.finalize(self, _stop, self._bars)  # never leave a terminal's cursor hidden

    def batch(self, epoch: int, batches: int, rows: int) -> None:
        """After a training batch: `batches` batches and `rows` rows done in epoch `epoch`
        (0 and 0: the epoch starts, which times its rate)."""
        now = self.clock()
        if batches == 0 or epoch != self.epoch_seen:
            self.epoch_seen, self.epoch_start = epoch, now
            _stop(self._bars)
            if batches == 0:
                return
        last = batches >= self.plan.batches
        wait = REDRAW_EVERY_S if self.tty else self.every
        if now - self.last_shown < wait and not last:
            return
        self.last_shown = now
        figures = self.figures(epoch, rows, now)
        if not self.tty:
            self.stream.write(f"epoch {epoch}/{self.plan.epochs} {batches}/{self.plan.batches} "
                              f"batches, {figures}\n")
            self.stream.flush()
            return
        if self._bars:
            self._bars[0].update(self._bars[0].task_ids[0], completed=batches, figures=figures,
                                 refresh=True)
        else:
            self._bars.append(self._bar(epoch, batches, figures))
        if last:
            _stop(self._bars)

    def _bar(self, epoch: int, batches: int, figures: str) -> Bar:
        """A started rich bar for one epoch (redrawn only when `batch` says so)."""
        bar = Bar(TextColumn(f"epoch {epoch}/{self.plan.epochs}"), BarColumn(bar_width=BAR_WIDTH),
                  MofNCompleteColumn(), TextColumn("batches, {task.fields[figures]}"),
                  console=self.console, auto_refresh=False, get_time=self.clock,
                  redirect_stdout=False, redirect_stderr=False)
        bar.add_task("train", total=self.plan.batches, completed=batches, figures=figures)
        bar.start()
        bar.refresh()
        return bar

    def figures(self, epoch: int, rows: int, now: float) -> str:
        """Rate and time left in the epoch and the run: `3.3 seq/s, epoch left 00:18, run left
        00:48`."""
        plan = self.plan
        rate = rows / max(now - self.epoch_start, 1e-9)
        epoch_left = (plan.sequences - rows) / rate if rows else float("nan")
        done = (epoch - 1 - self.start_epoch) * plan.sequences + rows
        left = (plan.epochs - epoch) * plan.sequences + plan.sequences - rows
        run_left = (now - self.start) * left / done if done else float("nan")
        return (f"{format_rate(rate)}, epoch left {format_duration(epoch_left)}, run left "
                f"{format_duration(run_left)}")

    def log(self, message: str) -> None:
        """Print a message (above a running bar on a terminal)."""
        if self.tty:
            self.console.out(message, highlight=False)
        else:
            self.stream.write(message + "\n")
            self.stream.flush()


def _stop(bars: list[Bar]) -> None:
    """Stop the running bar (its last state stays on screen, the cursor comes back)."""
    while bars:
        bars.pop().stop()
