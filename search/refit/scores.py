"""A refit's figures: each refit model, the ensemble, the presets and the k-mer ridge baseline
on the test split, in one table (printed, `refit/test.md`, `refit/test.json`, MLflow).

Scoring and the baseline are `evaluate`'s (prixfixe_blocks/evaluation): the same rows, the same
figures. Without a test split nothing trained on train + val can be scored honestly (every
non-test row was trained on), so the table then shows the search's validation figures (which
chose the configurations, so they are optimistic) and says how to make a test split.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.data.format.splits import FIT, SPLIT_COMMAND, TEST, split_counts
from prixfixe_blocks.evaluation.baseline import Baseline, fit_baseline
from prixfixe_blocks.evaluation.ensemble import RIDGE, load_any_predictor
from prixfixe_blocks.evaluation.evaluate import BASELINE_KEY as BASELINE_JSON
from prixfixe_blocks.evaluation.evaluate import dataset_rows, evaluate_rows
from prixfixe_blocks.training.export import ENSEMBLE_FILE
from search.experiment import (
    REFIT_DIR,
    REFIT_TEST_JSON,
    REFIT_TEST_TABLE,
    RUN_ID,
    ExperimentDir,
)
from search.record.mlflow_utils import write_run_record
from search.record.tracking import client_for
from search.refit.record import create_refit_run, member_key
from search.refit.select import SELECTION

ENSEMBLE_RUN = "ensemble_run_id"  # refit.json: the ensemble's MLflow run
ENSEMBLE_KEY = "ensemble"
FIGURES = ("pearson", "spearman", "mse")


def _scores(model_dir: Path, rows: Any, baseline: Any, targets: list[str]) -> dict[str, Any]:
    """One model's and the baseline's figures on `rows` (evaluate's scoring)."""
    predictor = load_any_predictor(model_dir, device="cpu")
    evaluation = evaluate_rows(lambda seqs: predictor.predict(seqs), targets, rows, baseline,
                               {"model": str(model_dir), "split": TEST})
    return evaluation.to_json()


def _summary(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"mean": math.nan, "sd": math.nan}
    return {"mean": float(np.mean(finite)),
            "sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0}


def score_models(plan: dict[str, Any], models: dict[str, Path], ensemble: Path | None,
                 baseline: Baseline | None = None) -> tuple[dict[str, Any], list[str]]:
    """Test figures of every member, the ensemble and the baseline (key -> figures; `_rows`:
    test rows), and what the baseline was fitted on: the same train + val rows as the refit
    (`baseline`, else fitted here)."""
    data_dir = plan["data_dir"]
    some = next(iter(models.values()))
    targets = load_any_predictor(some, device="cpu").targets
    rows = dataset_rows(data_dir, targets, TEST)
    baseline = baseline or fit_baseline(data_dir, targets, part=FIT)
    scored = {key: _scores(path, rows, baseline, targets) for key, path in models.items()}
    if ensemble is not None:
        scored[ENSEMBLE_KEY] = _scores(ensemble, rows, baseline, targets)
    first = next(iter(scored.values()))
    scored[RIDGE] = {k: first[BASELINE_JSON][k] for k in FIGURES}
    scored["_rows"] = rows.num_rows
    return scored, [f"{baseline.describe()} (train + val, as the refit)"]


def table_rows(plan: dict[str, Any], scored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per configuration (its seeds' mean and sd), the ensemble and the baseline."""
    out = []
    for config in plan["configs"]:
        keys = [member_key(config["key"], s) for s in plan["seeds"]]
        row = {"model": config["key"], "role": config["role"], "preset": config["preset"],
               "trial": config["trial"], "epochs": config["epochs"],
               "val_pearson": config["val_pearson"], "seeds": len(keys)}
        if scored is not None:
            figures = [scored[k] for k in keys if k in scored]
            for name in FIGURES:
                stats = _summary([float(f[name]) for f in figures])
                row[f"test_{name}"], row[f"test_{name}_sd"] = stats["mean"], stats["sd"]
            row["seeds"] = len(figures)
        out.append(row)
    if scored is not None:
        for key, label in ((ENSEMBLE_KEY, ensemble_label(plan)),
                           (RIDGE, "k-mer ridge baseline")):
            if key in scored:
                out.append({"model": label, "role": key, "preset": "", "trial": "",
                            "epochs": "", "val_pearson": math.nan, "seeds": "",
                            **{f"test_{n}": float(scored[key][n]) for n in FIGURES}})
    return out


def ensemble_label(plan: dict[str, Any]) -> str:
    """The ensemble's row: its chosen members and weights, or the top K x S mean."""
    if plan.get(SELECTION):
        return f"selected ensemble ({plan[SELECTION]['describe']})"
    top = [c for c in plan["configs"] if c["role"] == "top"]
    return f"ensemble of {len(top)} x {len(plan['seeds'])}"


def _f(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and math.isfinite(value) \
        else "-"


def markdown(rows: list[dict[str, Any]], title: str, notes: list[str]) -> str:
    """The table as markdown (also what is printed)."""
    tested = any("test_pearson" in r for r in rows)
    head = "| model | preset | search trial | epochs | seeds | val r (search) |"
    rule = "|---|---|---:|---:|---:|---:|"
    if tested:
        head += " test r (mean ± sd) | test rho | test mse |"
        rule += "---:|---:|---:|"
    lines = [f"### {title}", "", head, rule]
    for r in rows:
        line = (f"| {r['model']} | {r['preset'] or ''} | {r['trial']} | {r['epochs']} | "
                f"{r['seeds']} | {_f(r['val_pearson'])} |")
        if tested:
            sd = r.get("test_pearson_sd")
            spread = f" ± {_f(sd)}" if isinstance(sd, float) and math.isfinite(sd) else ""
            line += (f" {_f(r.get('test_pearson'))}{spread} | {_f(r.get('test_spearman'))} | "
                     f"{_f(r.get('test_mse'))} |")
        lines.append(line)
    return "\n".join([*lines, "", *notes]) + "\n"


def evaluate_refit(exp: ExperimentDir, doc: dict[str, Any], plan: dict[str, Any],
                   models: dict[str, Path], ensemble: Path | None,
                   baseline: Baseline | None = None) -> dict[str, Any]:
    """Score on the test split (when there is one), write test.md / test.json, log to MLflow
    (member runs: their test figures; the ensemble's run: all of them), print the table."""
    counts = split_counts(open_dataset(plan["data_dir"]), plan["data_dir"])
    has_test = bool(counts and counts[TEST])
    notes = [f"Refit on train + val rows; {len(plan['seeds'])} seeds per configuration "
             f"(seeds {', '.join(map(str, plan['seeds']))}); epochs = the epoch each "
             "configuration reached its best validation r at in the search."]
    scored = None
    if has_test and models:
        scored, baseline_notes = score_models(plan, models, ensemble, baseline)
        notes += baseline_notes
        title = f"Refit of '{exp.name}' on the test split ({scored['_rows']:,} rows)"
    elif has_test:
        title = f"Refit of '{exp.name}': no refit model finished (the search's validation r)"
    else:
        title = f"Refit of '{exp.name}': validation figures of the search (no test split)"
        notes.append(f"The dataset has no test split, so these are the search's validation "
                     f"figures, which chose the configurations (optimistic); `{SPLIT_COMMAND}` "
                     "makes a test split (then search and refit again).")
    rows = table_rows(plan, scored)
    text = markdown(rows, title, notes)
    atomic_write_text(exp.path(REFIT_TEST_TABLE), text)
    atomic_write_text(exp.path(REFIT_TEST_JSON), json.dumps(
        {"title": title, "rows": rows, "notes": notes}, indent=2, default=str) + "\n")
    log_refit(exp, doc, plan, scored, models, ensemble)
    print(text)
    if ensemble is not None:
        print(f"ensemble model: {ensemble} (prixfixe-search predict --model {ensemble} ...; "
              f"prixfixe-search evaluate --model {ensemble} ...)")
    return {"rows": rows, "table": str(exp.path(REFIT_TEST_TABLE)), "tested": scored is not None}


def log_refit(exp: ExperimentDir, doc: dict[str, Any], plan: dict[str, Any],
              scored: dict[str, Any] | None, models: dict[str, Path],
              ensemble: Path | None) -> None:
    """Test figures on each member's run; the ensemble's run (nested under the parent) gets
    every figure, the table and ensemble.json; model directories record their runs."""
    client = client_for(doc["tracking_uri"])
    for key, path in models.items():
        run_id = plan["members"][key].get(RUN_ID)
        if not run_id:
            continue
        write_run_record(path, run_id, doc["tracking_uri"])
        if scored is not None:
            for name in FIGURES:
                client.log_metric(run_id, f"test_{name}", float(scored[key][name]))
    if ensemble is None:
        return
    chosen = ensemble_label(plan)
    run_id = plan.get(ENSEMBLE_RUN) or create_refit_run(
        doc, "refit-ensemble", {"refit_ensemble": "true"},
        {"members": chosen, "seeds": ",".join(map(str, plan["seeds"])), "top": str(plan["top"])})
    plan[ENSEMBLE_RUN] = run_id
    write_run_record(ensemble, run_id, doc["tracking_uri"])
    client.set_tag(run_id, "ensemble_members", chosen)  # a tag: a resumed refit may choose anew
    if plan.get(SELECTION):
        record = plan[SELECTION]
        client.set_tag(run_id, "ensemble_weights", json.dumps(record["weights"]))
        if record.get("shares"):  # each member's part of the mix (weights are rounds)
            client.set_tag(run_id, "ensemble_shares", json.dumps(
                {name: round(share, 3) for name, share in record["shares"].items()}))
        client.log_metric(run_id, "val_pearson", float(record["val_pearson"]))
        for name, value in record["single_val_pearson"].items():
            client.log_metric(run_id, f"val_pearson.{name}", float(value))
    if scored is not None:
        for key in (ENSEMBLE_KEY, RIDGE):
            for name in FIGURES:
                client.log_metric(run_id, f"test_{name}" if key == ENSEMBLE_KEY
                                  else f"{key}_test_{name}", float(scored[key][name]))
    for name in (exp.path(REFIT_TEST_TABLE), exp.path(REFIT_TEST_JSON), ensemble / ENSEMBLE_FILE):
        client.log_artifact(run_id, str(name), artifact_path=REFIT_DIR)
    client.set_terminated(run_id, status="FINISHED")
