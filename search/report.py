"""Leaderboard of a search: rows from trials.json, a compact text table, CSV and a PNG plot."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from prixfixe_blocks.atomic import atomic_write, atomic_write_text
from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.fit import BEST_METRIC as METRIC

FAILED = "FAILED"  # a trial's record status after an error that its retries did not clear
NO_RANK = "-"  # the rank shown for a failed trial
COLUMNS: tuple[str, ...] = (
    "rank", "trial", "trial_id", "status", "epoch", METRIC, "val_pearson", "val_spearman",
    "train_loss", "seqs_per_s", "strategy", *ROLES, "node_id", "config",
)


def leaderboard_rows(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial, best first (trials without a result last). A failed trial (an error
    after its retries, e.g. a diverged model) is unranked and listed last: its scores are not
    comparable, and it is never the best."""
    rows = []
    for record in records.values():
        metrics, config = record.get("metrics", {}), record.get("config", {})
        rows.append({
            "trial_id": record["trial_id"],
            "trial": f"{record['index']:03d}", "status": record.get("status", "?"),
            "epoch": record.get("epoch", 0),
            **{k: metrics.get(k) for k in (METRIC, "val_pearson", "val_spearman",
                                           "train_loss", "seqs_per_s")},
            "strategy": config.get("strategy", config.get("strategy.encoding", "")),
            **{role: config.get(role, "") for role in ROLES},
            "node_id": (record.get("node_id") or "")[:12],
            "config": json.dumps(config, sort_keys=True),
        })
    rows.sort(key=lambda r: (r["status"] == FAILED, -_score(r[METRIC]), r["trial"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = NO_RANK if row["status"] == FAILED else rank
    return rows


def _score(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else -math.inf


def format_table(rows: list[dict[str, Any]], limit: int | None = None) -> str:
    """A compact fixed-width table of the leaderboard (first `limit` rows)."""
    shown = rows if limit is None else rows[:limit]
    head = (f"{'#':>3} {'trial':>5} {'status':<8} {'ep':>3} {'best_r':>7} {'val_r':>7} "
            f"{'val_rho':>7} {'seq/s':>7}  blocks (first/core/final) + strategy")
    lines = [head]
    for r in shown:
        lines.append(
            f"{r['rank']:>3} {r['trial']:>5} {r['status']:<8} {r['epoch']:>3} "
            f"{_num(r[METRIC])} {_num(r['val_pearson'])} {_num(r['val_spearman'])} "
            f"{_num(r['seqs_per_s'], 7, 0)}  {r['first']}/{r['core']}/{r['final']}"
            f" + {r['strategy']}"
        )
    if limit is not None and len(rows) > limit:
        lines.append(f"    ... {len(rows) - limit} more")
    return "\n".join(lines)


def _num(value: Any, width: int = 7, digits: int = 4) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}"


def write_leaderboard_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """The leaderboard as CSV (atomic)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_curves_png(path: Path, records: dict[str, dict[str, Any]],
                     size: tuple[float, float] = (8.0, 5.0)) -> None:
    """Learning curves: best_val_pearson per trial over epochs, labelled, best trials in the
    legend; trials stopped early end in an x. Written atomically (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ordered = sorted(records.values(), key=lambda r: -_score(r.get("metrics", {}).get(METRIC)))
    fig, ax = plt.subplots(figsize=size, dpi=100)
    for rank, record in enumerate(ordered):
        curve = [(h["epoch"], h[METRIC]) for h in record.get("history", [])
                 if _score(h.get(METRIC)) > -1]
        if not curve:
            continue
        config = record.get("config", {})
        label = (f"{record['index']:03d} {config.get('first', '?')}/{config.get('core', '?')}/"
                 f"{config.get('final', '?')}")
        epochs, values = zip(*curve, strict=True)
        (line,) = ax.plot(epochs, values, marker="o", markersize=3,
                          label=label if rank < 10 else None)
        if record.get("status") == "STOPPED":
            ax.plot(epochs[-1], values[-1], marker="x", color=line.get_color(), markersize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("best validation Pearson r")
    ax.set_title(f"{len(records)} trials (x = stopped early by the scheduler)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right", title="trial first/core/final")
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
