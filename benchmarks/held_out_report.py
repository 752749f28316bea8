"""The held-out benchmark's results (`held_out.py`'s JSON) as a Markdown table and a figure.

One row (and one panel) per dataset and metric: test Pearson r for every dataset, and the
weighted DREAM score too where the scores have one (the simulated suite). The search column is
the median and range over search seeds; the presets and the ridge are one run each.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

PRESETS = ("dream-cnn", "dream-rnn", "dream-attn")
METRICS = {"r": "test r", "dream_score": "DREAM score"}
SEARCH, RIDGE_LABEL = "search + refit", "k-mer ridge"


def _arm_metrics(arms: dict[str, Any]) -> list[str]:
    """The metrics every scored model of a (dataset, budget) has, in `METRICS` order."""
    models = [a["model"] for a in (*arms["search"].values(), *arms["presets"].values())]
    return [m for m in METRICS if models and all(m in model for model in models)]


def _ridge(arms: dict[str, Any], metric: str) -> float | None:
    """The ridge as the search's ensemble met it: fitted on train + val, as refit is (its test
    r from refit's table); otherwise the one `evaluate` fitted beside a model."""
    search = next(iter(arms["search"].values()), None)
    if search is not None and metric == "r" and search.get("ridge_train_val") is not None:
        return search["ridge_train_val"]
    arm = search or next(iter(arms["presets"].values()), None)
    return None if arm is None else arm["ridge"].get(metric)


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per dataset, budget and metric: the search's seed scores, each preset's score
    (None when not run), the ridge, the truth ceiling (r only) and refit's median seconds."""
    out = []
    for name, entry in results["datasets"].items():
        for budget, arms in entry["budgets"].items():
            refit_s = [a["refit_s"] for a in arms["search"].values()]
            for metric in _arm_metrics(arms):
                out.append({
                    "dataset": name, "budget": budget, "metric": metric,
                    "search": [a["model"][metric] for a in arms["search"].values()],
                    "presets": {p: arms["presets"][p]["model"][metric]
                                if p in arms["presets"] else None for p in PRESETS},
                    "ridge": _ridge(arms, metric),
                    "ceiling": entry.get("truth_ceiling") if metric == "r" else None,
                    "refit_s": statistics.median(refit_s) if refit_s else None})
    return out


def table(results: dict[str, Any]) -> str:
    """Markdown: per dataset, budget and metric, the search (median [min, max] over seeds),
    each preset, the ridge, the truth ceiling and refit's seconds."""
    lines = ["| dataset | budget | metric | search + refit (median [min, max]) | "
             + " | ".join(PRESETS) + " | k-mer ridge (train + val) | ceiling | refit s |",
             "|" + " --- |" * (7 + len(PRESETS))]
    for row in rows(results):
        found = row["search"]
        cell = (f"{_f(statistics.median(found))} [{_f(min(found))}, {_f(max(found))}] "
                f"(n={len(found)})") if found else "-"
        cells = [row["dataset"], row["budget"], METRICS[row["metric"]], cell,
                 *map(_f, row["presets"].values()), _f(row["ridge"]), _f(row["ceiling"]),
                 _f(row["refit_s"], 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def plot(results: dict[str, Any], path: Path) -> None:
    """One panel per dataset and metric, budgets along x: each search seed a dot and their
    median a bar, each preset a marker, the ridge a dashed tick; where a search bar sits above
    every other mark, the search won at that budget."""
    import matplotlib  # plotting only here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    every = rows(results)
    panels: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in every:
        panels.setdefault((row["dataset"], row["metric"]), []).append(row)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.8), squeeze=False)
    markers = dict(zip(PRESETS, ("s", "^", "D"), strict=True))
    variants = sorted({r["budget"].partition(" ")[2] for r in every} - {""})
    for ax, ((dataset, metric), found) in zip(axes[0], panels.items(), strict=True):
        for x, row in enumerate(found):
            ax.scatter([x - 0.2] * len(row["search"]), row["search"], color="C0", s=18,
                       label=SEARCH if x == 0 else None, zorder=3)
            if row["search"]:
                ax.hlines(statistics.median(row["search"]), x - 0.32, x - 0.08, color="C0")
            for i, (preset, score) in enumerate(row["presets"].items()):
                if score is not None:
                    ax.scatter(x + 0.05 * i, score, marker=markers[preset], color=f"C{i + 1}",
                               s=22, label=preset if x == 0 else None)
            if row["ridge"] is not None:
                ax.hlines(row["ridge"], x - 0.35, x + 0.35, color="k", linestyles="dashed",
                          label=RIDGE_LABEL if x == 0 else None)
        ax.set_xticks(range(len(found)), [_tick(r["budget"], variants) for r in found])
        ax.set_xlim(-0.6, len(found) - 0.4)
        ax.set_title(f"{dataset}: {METRICS[metric]}", fontsize=10)
        ax.set_xlabel("time budget (2 CPU cores)")
    axes[0][0].set_ylabel("on test rows")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    notes = "; ".join(f"v{i}: run {v}" for i, v in enumerate(variants, 1))
    if notes:
        fig.text(0.01, 0.01, notes, fontsize=7)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _tick(label: str, variants: list[str]) -> str:
    """A budget's tick: '10m', or '10m v1' for a variant (its `run` options in the note)."""
    budget, _, variant = label.partition(" ")
    return f"{budget} v{variants.index(variant) + 1}" if variant else budget
