"""What a search shows while it runs: listeners of its trial recorder (search/record/trials.py).

On a terminal one live leaderboard table (rich), redrawn on every event, with failures printed
above it; otherwise (a log file, CI) one line per event. A listener has three methods:
`event(line, alert)` (something happened to one trial), `show(records, title, epochs)` (the
records changed) and `close()` (the search ended).
"""

from __future__ import annotations

import atexit
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from search.experiment import RUN_ID
from search.report.leaderboard import SHORT_ID, blocks_text, leaderboard_rows
from search.trial.trainable import METRIC

LIVE_ROWS = 20  # leaderboard rows the live table shows


class LineDisplay:
    """One printed line per trial event (stdout is not a terminal: a log file, CI)."""

    def event(self, line: str, alert: bool = False) -> None:
        print(line, flush=True)

    def show(self, records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> None:
        """Nothing: the leaderboard is printed once, at the end."""

    def close(self) -> None:
        """Nothing to stop."""


class LiveDisplay:
    """One leaderboard table redrawn in place on every event (rich); only alerts (failures,
    retries, lost trials) are printed, above the table."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.live = Live(console=self.console, auto_refresh=False, redirect_stdout=True,
                         redirect_stderr=True)
        self.started = False

    def event(self, line: str, alert: bool = False) -> None:
        if alert:
            self.console.print(line, markup=False, highlight=False)

    def show(self, records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> None:
        if not self.started:
            self.live.start()
            atexit.register(self.close)  # a driver that dies mid-search restores the cursor
            self.started = True
        self.live.update(live_table(records, title, epochs), refresh=True)

    def close(self) -> None:
        if self.started:
            self.live.stop()
            self.started = False


def make_display(stream: TextIO | None = None) -> LineDisplay | LiveDisplay:
    """The live table on a terminal, one line per event otherwise."""
    stream = stream or sys.stdout
    return LiveDisplay() if stream.isatty() else LineDisplay()


def live_table(records: dict[str, dict[str, Any]], title: str, epochs: int | str) -> Table:
    """The leaderboard as a rich table: best first, running trials with their epoch, each
    trial by its three names (Optuna number, Tune id, MLflow run)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (("#", "right"), ("trial", "right"), ("tune id", "left"),
                          ("mlflow run", "left"), ("status", "left"), ("epoch", "right"),
                          ("best r", "right"), ("val r", "right"), ("seq/s", "right"),
                          ("blocks (first/core/final) + strategy", "left")):
        table.add_column(name, justify=justify, no_wrap=not name.startswith("blocks"))
    rows = leaderboard_rows(records)
    for r in rows[:LIVE_ROWS]:
        table.add_row(str(r["rank"]), r["trial"], r["trial_id"], (r[RUN_ID] or "-")[:SHORT_ID],
                      r["status"], f"{r['epoch']}/{epochs}",
                      _fmt(r[METRIC]), _fmt(r["val_pearson"]), _fmt(r["seqs_per_s"], 0),
                      blocks_text(r))
    if len(rows) > LIVE_ROWS:
        table.caption = f"... {len(rows) - LIVE_ROWS} more"
    return table


def _fmt(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


