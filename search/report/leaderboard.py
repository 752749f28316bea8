"""Leaderboard of a search: rows from trials.json, a compact text table, a markdown table (the
MLflow parent run's description), CSV and a PNG plot.

A trial is named by its Optuna trial number (`trial`, as optuna-dashboard shows it), its Ray
Tune trial id (`trial_id`) and its MLflow run id (`mlflow_run_id`): every row carries all three.
"""

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
from prixfixe_blocks.training.fit import Best
from search.experiment import NUMBER, RUN_ID
from spaces.base import config_to_spec

FAILED = "FAILED"  # a trial's record status after an error that its retries did not clear
LOST = "LOST"  # a trial Ray Tune started (or was asked for) that no callback saw end
UNRANKED = (FAILED, LOST)  # statuses whose scores are not comparable: listed last, never best
NO_RANK = "-"  # the rank shown for a failed trial
COLUMNS: tuple[str, ...] = (
    "rank", "trial", "trial_id", RUN_ID, "status", "epoch", "best_epoch", METRIC, "val_pearson",
    "val_spearman", "train_loss", "seqs_per_s", "strategy", *ROLES, "node_id", "config",
)
SHORT_ID = 8  # characters of an MLflow run id in the text table
CHOICE_KEYS = (*ROLES, "encoding", "target")  # the choices `best_per_choice` compares
DONE_STATES = ("FINISHED", "STOPPED", "FAILED")  # record statuses of trials that have ended


def trial_label(record: dict[str, Any]) -> str:
    """A trial's Optuna number as shown everywhere (`007`), `?` before it is known."""
    number = record.get(NUMBER)
    return f"{number:03d}" if isinstance(number, int) else "?"


def leaderboard_rows(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial, best first (trials without a result last). A failed trial (an error
    after its retries, e.g. a diverged model) is unranked and listed last: its scores are not
    comparable, and it is never the best."""
    rows = []
    for record in records.values():
        metrics, config = record.get("metrics", {}), record.get("config", {})
        rows.append({
            "trial_id": record["trial_id"], RUN_ID: record.get(RUN_ID) or "",
            "trial": trial_label(record), "order": _order(record),
            "status": record.get("status", "?"),
            "epoch": record.get("epoch", 0), "best_epoch": best_epoch(record),
            **{k: metrics.get(k) for k in (METRIC, "val_pearson", "val_spearman",
                                           "train_loss", "seqs_per_s")},
            "strategy": config.get("strategy", config.get("strategy.encoding", "")),
            **{role: config.get(role, "") for role in ROLES},
            "node_id": (record.get("node_id") or "")[:12],
            "config": json.dumps(config, sort_keys=True),
        })
    rows.sort(key=lambda r: (r["status"] in UNRANKED, -_score(r[METRIC]), r["order"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = NO_RANK if row["status"] in UNRANKED else rank
    return rows


def best_epoch(record: dict[str, Any]) -> int:
    """The epoch a trial reached its best validation Pearson at: the fit loop's rule (`Best`)
    replayed over its history (0: no finite score)."""
    best = Best()
    for entry in record.get("history", []):
        best.update(float(entry.get("val_pearson", math.nan)), int(entry["epoch"]))
    return best.epoch


def status_counts(records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Trials per status (FINISHED, STOPPED, FAILED, LOST, RUNNING, PENDING), in name order."""
    counts: dict[str, int] = {}
    for record in records.values():
        status = record.get("status", "PENDING")
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items()))


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The leaderboard's first row if it is ranked and has a finite score (else no trial
    counts: all failed or none scored)."""
    if rows and rows[0]["rank"] != NO_RANK and _score(rows[0][METRIC]) > -math.inf:
        return rows[0]
    return None


def _order(record: dict[str, Any]) -> int:
    """Ties rank in the order trials were asked (Optuna number, else Tune's index)."""
    number = record.get(NUMBER)
    return number if isinstance(number, int) else int(record.get("index", 0))


def _score(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else -math.inf


def format_table(rows: list[dict[str, Any]], limit: int | None = None) -> str:
    """A compact fixed-width table of the leaderboard (first `limit` rows)."""
    shown = rows if limit is None else rows[:limit]
    head = (f"{'#':>3} {'trial':>5} {'tune id':<8} {'mlflow':<{SHORT_ID}} {'status':<8} "
            f"{'ep':>3} {'best_r':>7} {'val_r':>7} {'val_rho':>7} {'seq/s':>7}  "
            "blocks (first/core/final) + strategy")
    lines = [head]
    for r in shown:
        lines.append(
            f"{r['rank']:>3} {r['trial']:>5} {r['trial_id']:<8} "
            f"{(r[RUN_ID] or '-')[:SHORT_ID]:<{SHORT_ID}} {r['status']:<8} {r['epoch']:>3} "
            f"{num_text(r[METRIC])} {num_text(r['val_pearson'])} {num_text(r['val_spearman'])} "
            f"{num_text(r['seqs_per_s'], 7, 0)}  {blocks_text(r)}"
        )
    if limit is not None and len(rows) > limit:
        lines.append(f"    ... {len(rows) - limit} more")
    return "\n".join(lines)


def blocks_text(row: dict[str, Any]) -> str:
    """`bhi/autosome/autosome + autosome`: a row's blocks and strategy."""
    return f"{row['first']}/{row['core']}/{row['final']} + {row['strategy']}"


def num_text(value: Any, width: int = 7, digits: int = 4) -> str:
    """A score right-aligned in `width` characters ("-" when missing or not finite)."""
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
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    ordered = sorted(records.values(), key=lambda r: -_score(r.get("metrics", {}).get(METRIC)))
    fig, ax = plt.subplots(figsize=size, dpi=100)
    for rank, record in enumerate(ordered):
        curve = [(h["epoch"], h[METRIC]) for h in record.get("history", [])
                 if _score(h.get(METRIC)) > -1]
        if not curve:
            continue
        config = record.get("config", {})
        label = (f"{trial_label(record)} {config.get('first', '?')}/{config.get('core', '?')}/"
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
    _save(fig, path)


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    """Write a figure as PNG atomically and close it."""
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        _pyplot().close(fig)


def choice_values(config: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, str]:
    """A trial's choice per CHOICE_KEYS: its blocks and its strategy's encoding and target
    (whatever the space called them: a bundle, a plain key, a default)."""
    spec = config_to_spec(config, overrides)
    return {**{role: spec.block(role).name for role in ROLES},
            "encoding": str(spec.strategy.encoding), "target": str(spec.strategy.target)}


def best_per_choice(records: dict[str, dict[str, Any]],
                    overrides: dict[str, Any] | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Key (first, core, final, encoding, target) -> choice -> {"best": the best validation r
    of the trials that made it, "n": how many did, "trial": the best one's number}."""
    table: dict[str, dict[str, dict[str, Any]]] = {key: {} for key in CHOICE_KEYS}
    for record in records.values():
        score = _score(record.get("metrics", {}).get(METRIC))
        if score == -math.inf:
            continue
        for key, value in choice_values(record.get("config", {}), overrides).items():
            entry = table[key].setdefault(value, {"best": -math.inf, "n": 0, "trial": ""})
            entry["n"] += 1
            if score > entry["best"]:
                entry.update(best=score, trial=trial_label(record))
    return table


def write_choices_png(path: Path, table: dict[str, dict[str, dict[str, Any]]],
                      size: tuple[float, float] = (12.0, 3.2)) -> None:
    """One panel per key: the best validation r of each choice as a bar, labelled with how
    many trials made it."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(table), figsize=size, dpi=100, sharex=True)
    for ax, (key, choices) in zip(axes, table.items(), strict=True):
        ordered = sorted(choices.items(), key=lambda kv: kv[1]["best"])
        names = [f"{name} (n={entry['n']})" for name, entry in ordered]
        ax.barh(names, [entry["best"] for _, entry in ordered], color="tab:blue")
        ax.set_title(key)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[len(axes) // 2].set_xlabel("best validation Pearson r of the trials with that choice")
    _save(fig, path)


def write_pareto_png(path: Path, points: list[tuple[float, float]],
                     front: list[tuple[float, float]], size: tuple[float, float] = (7.0, 4.5)
                     ) -> None:
    """Validation r against parameter count (log scale): every trial, the Pareto front as a
    line through its trials."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size, dpi=100)
    if points:
        ax.scatter(*zip(*points, strict=True), s=14, color="0.6", label="trials")
    if front:
        xs, ys = zip(*sorted(front), strict=True)
        ax.step(xs, ys, where="post", color="tab:red")
        ax.scatter(xs, ys, s=30, color="tab:red", label="Pareto front", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("best validation Pearson r")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
