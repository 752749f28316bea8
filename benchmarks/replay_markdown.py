"""README's tables from a replay JSON (`search_efficiency.py markdown REPORT.json`), so that
the figures README quotes are printed by a command rather than copied by hand.

Three tables: per method, medians [95% bootstrap intervals] over the paired seeds; paired
differences against the reference method; and the test-split r of the configuration each
method would pick (best validation r so far) beside the test r of the grid's own pick.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.replay_stats import FRACTIONS, TOP, pct


def interval_cell(f: dict[str, Any], digits: int, budget: int | None = None) -> str:
    """`median [low, high]`; reach counts of a seed that never got there read `>budget`."""
    cells = [f"{f[k]:.{digits}f}" for k in ("median", "low", "high")]
    if budget is not None:
        cells = [f">{budget}" if c == f"{budget + 1:.{digits}f}" else c for c in cells]
    return f"{cells[0]} [{cells[1]}, {cells[2]}]"


def _paired(d: dict[str, Any]) -> str:
    """`mean difference [low, high], better/worse` (3 significant digits)."""
    return f"{d['mean_diff']:+.3g} [{d['low']:+.3g}, {d['high']:+.3g}], {d['better']}/{d['worse']}"


def methods_table(report: dict[str, Any]) -> list[str]:
    """Per method: seeds reaching 99%, trial-epochs to 99% and to a top-3 cell, regret at each
    fraction of the grid's cost."""
    budget, seeds = report["budget_trial_epochs"], report["seeds"]
    head = " / ".join(f"{round(f * 100)}%" for f in FRACTIONS)
    rows = [f"| method | seeds reaching 99% of the grid's best | trial-epochs to 99% | "
            f"trial-epochs to a top-{TOP} cell's best | regret at {head} of the grid's cost |",
            "| --- | --- | --- | --- | --- |"]
    for name, figs in sorted(report["methods"].items()):
        regret = " / ".join(interval_cell(figs[f"regret_at_{pct(f)}"], 3) for f in FRACTIONS)
        rows.append(f"| {name} | {figs['epochs_to_99pct']['reached']} of {seeds} | "
                    f"{interval_cell(figs['epochs_to_99pct'], 0, budget)} | "
                    f"{interval_cell(figs['epochs_to_top3'], 0, budget)} | {regret} |")
    return rows


def paired_table(report: dict[str, Any], reference: str) -> list[str]:
    """Per method: mean paired difference against `reference` with its interval."""
    figures = ("epochs_to_99pct", "epochs_to_top3", "regret_at_20pct", "regret_at_50pct")
    rows = [f"| paired against {reference}: method | trial-epochs to 99% | to a top-{TOP} cell "
            "| regret at 20% | regret at 50% |", "| --- | --- | --- | --- | --- |"]
    for name, figs in sorted(report["paired"].items()):
        rows.append(f"| {name} | " + " | ".join(_paired(figs[k]) for k in figures) + " |")
    return rows


def test_table(report: dict[str, Any], reference: str) -> list[str]:
    """Test r of each method's pick at each fraction of the grid's cost, against the grid's."""
    grid = report["grid"]
    if not math.isfinite(grid["pick_test"]):
        return ["(This table has no test-split column: it was recorded before `record` stored "
                "one.)"]
    heads = " | ".join(f"test r of its pick at {round(f * 100)}%" for f in FRACTIONS)
    rows = [f"The grid's own pick (best validation r of all {grid['trial_epochs']} "
            f"trial-epochs) has test r {grid['pick_test']:.4f}; the best test r of any cell "
            f"and epoch is {grid['best_test']:.4f}.", "",
            f"| method | {heads} | paired against {reference} at 20% / 50% |",
            "| --- | " + " | ".join("---" for _ in FRACTIONS) + " | --- |"]
    for name, figs in sorted(report["methods"].items()):
        paired = report["paired"].get(name)
        vs = (" / ".join(_paired(paired[f"test_at_{p}"]) for p in ("20pct", "50pct"))
              if paired else "(reference)")
        rows.append(f"| {name} | " + " | ".join(interval_cell(figs[f"test_at_{pct(f)}"], 3)
                                                 for f in FRACTIONS) + f" | {vs} |")
    return rows


def markdown(report: dict[str, Any]) -> str:
    """All three tables, with the headline README puts above them (the reference is the one
    method without paired differences)."""
    reference = next(m for m in report["methods"] if m not in report["paired"])
    grid = report["grid"]
    head = (f"{report['table']}: grid best validation r {grid['best']:.4f}, top-{TOP} cell "
            f"{grid['top3_best']:.4f}; budget {report['budget_trial_epochs']} trial-epochs, "
            f"{report['seeds']} paired seeds")
    parts = [head, "", *methods_table(report), "", *paired_table(report, reference), "",
             *test_table(report, reference)]
    return "\n".join(parts) + "\n"
