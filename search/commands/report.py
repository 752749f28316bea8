"""`prixfixe-search report NAME`: what mattered in a search, as files in STORAGE/NAME/report/
and artifacts of the search's MLflow parent run (under `report/`).

- importances.json: Optuna's fANOVA and PED-ANOVA importances and the per-choice view
  (search/report/importance.py explains which trials and parameters each uses);
- choices.png: the best validation r per first / core / final block, encoding and target;
- curves.png: the learning curves;
- pareto.png, pareto.csv: validation r vs parameter count and the Pareto front (a search run
  with `--objective r,params`);
- report.md: all of it as text, with the refit's test-set table when `refit` has run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.plugins import load_plugins
from prixfixe_blocks.spec import ROLES
from search.experiment import (
    OPTUNA_FILE,
    REFIT_TEST_TABLE,
    REPORT_DIR,
    ExperimentDir,
    open_experiment,
)
from search.record.tracking import RUN_ID, client_for
from search.report.importance import param_importances
from search.report.leaderboard import (
    METRIC,
    best_per_choice,
    status_counts,
    write_choices_png,
    write_curves_png,
    write_pareto_png,
)
from search.study.journal import TUNE_ID_ATTR, load_study
from search.study.objectives import was_trained
from search.trial.trainable import PARAMS

SHOWN = 12  # importances listed per evaluator / choice in report.md
FILES = {"importances": "importances.json", "choices": "choices.png", "curves": "curves.png",
         "pareto_plot": "pareto.png", "pareto": "pareto.csv", "report": "report.md"}
PARETO_COLUMNS = ("trial", METRIC, PARAMS, *ROLES, "tune_trial_id", RUN_ID)


def pareto(study: Any) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    """A multi-objective study's Pareto front (Optuna's `best_trials`) as rows, fewest
    parameters first, and every complete trial as (parameters, r)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.values is not None
                and len(t.values) == 2]
    rows = [{"trial": t.number, METRIC: t.values[0], PARAMS: int(t.values[1]),
             **{role: t.params.get(role, "") for role in ROLES},
             "tune_trial_id": t.user_attrs.get(TUNE_ID_ATTR, ""),
             RUN_ID: t.user_attrs.get(RUN_ID, "")} for t in study.best_trials
            if was_trained(t)]
    rows.sort(key=lambda r: (r[PARAMS], -r[METRIC]))
    return rows, [(t.values[1], t.values[0]) for t in complete]


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    return [f"| {' | '.join(head)} |", "|" + "---|" * len(head),
            *(f"| {' | '.join(cell(v) for v in row)} |" for row in rows)]


def _importance_lines(found: dict[str, Any]) -> list[str]:
    lines = ["## What mattered: hyperparameter importances", "",
             f"{found['trials']} scored trials (complete ones, and pruned ones with the best r "
             "they reached before they were stopped).", ""]
    for name, values in found["overall"].items():
        lines += [f"**{name}**", "", *_table(["parameter", "importance"],
                                              [[k, v] for k, v in list(values.items())[:SHOWN]]),
                  ""]
    if found["per_choice"]:
        lines += ["**per choice** (fANOVA over the trials that made it: which of the chosen "
                  "block's fields mattered)", ""]
        for choice, values in found["per_choice"].items():
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(values.items())[:SHOWN])
            lines.append(f"- {choice}: {top}")
        lines.append("")
    return lines + [f"note: {n}" for n in found["notes"]] + [""]


def _choice_lines(table: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    rows = [[key, value, entry["best"], entry["n"], entry["trial"]]
            for key, choices in table.items()
            for value, entry in sorted(choices.items(), key=lambda kv: -kv[1]["best"])]
    return ["## Best validation r per choice", "", f"![choices]({FILES['choices']})", "",
            *_table(["choice", "value", "best val r", "trials", "best trial"], rows), ""]


def write_report(exp: ExperimentDir) -> dict[str, Any]:
    """Write the report's files into STORAGE/NAME/report/; returns what was written."""
    doc = exp.search()
    options = doc["options"]
    load_plugins(options.get("plugins", []))
    out = exp.path(REPORT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    records = exp.trial_records()
    study = load_study(exp.path(OPTUNA_FILE), options["name"])
    found = param_importances(study)
    atomic_write_text(out / FILES["importances"], json.dumps(found, indent=2) + "\n")
    choices = best_per_choice(records, doc.get("overrides"))
    write_choices_png(out / FILES["choices"], choices)
    write_curves_png(out / FILES["curves"], records)
    counts = ", ".join(f"{n} {s.lower()}" for s, n in status_counts(records).items())
    lines = [f"# Search '{exp.name}'", "", f"{len(records)} trials ({counts}); space "
             f"{options['space']}, width {options['width']}, objective "
             f"{options.get('objective', 'r')}.", "", *_importance_lines(found),
             *_choice_lines(choices), "## Learning curves", "", f"![curves]({FILES['curves']})",
             ""]
    written = [FILES["importances"], FILES["choices"], FILES["curves"]]
    front: list[dict[str, Any]] = []
    if study is not None and len(study.directions) > 1:
        front, points = pareto(study)
        write_pareto_png(out / FILES["pareto_plot"], points,
                         [(r[PARAMS], r[METRIC]) for r in front])
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(PARETO_COLUMNS))
        writer.writeheader()
        writer.writerows(front)
        atomic_write_text(out / FILES["pareto"], buf.getvalue())
        written += [FILES["pareto_plot"], FILES["pareto"]]
        lines += ["## Pareto front: validation r vs parameters", "",
                  f"![pareto]({FILES['pareto_plot']})", "",
                  *_table(["trial", "val r", "parameters", *ROLES],
                          [[r["trial"], r[METRIC], f"{r[PARAMS]:,}", *(r[k] for k in ROLES)]
                           for r in front]), ""]
    refit = exp.path(REFIT_TEST_TABLE)
    lines += ["## Test set (refit)", "", refit.read_text() if refit.is_file() else
              f"No refit yet: `prixfixe-search refit {exp.name}` retrains the best "
              "configurations on train + val and scores them on the test split.", ""]
    lines += [f"Optuna study: `optuna-dashboard {exp.path(OPTUNA_FILE)}`"]
    atomic_write_text(out / FILES["report"], "\n".join(lines) + "\n")
    written.append(FILES["report"])
    return {"dir": out, "files": written, "importances": found, "choices": choices,
            "pareto": front, "text": "\n".join(lines)}


def log_report(exp: ExperimentDir, report: dict[str, Any]) -> None:
    """The report's files as artifacts (under `report/`) of the search's parent run."""
    doc = exp.search()
    client = client_for(doc["tracking_uri"])
    for name in report["files"]:
        client.log_artifact(doc["parent_run_id"], str(Path(report["dir"]) / name),
                            artifact_path=REPORT_DIR)
    best = report["importances"]["overall"].get("fanova", {})
    if best:
        top = max(best, key=best.get)
        client.set_tag(doc["parent_run_id"], "most_important_param", top)
    exp.push(REPORT_DIR)


def cli_report(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search report`."""
    exp = open_experiment(args.storage, args.name)
    exp.pull()
    report = write_report(exp)
    log_report(exp, report)
    print(report["text"])
    print(f"\nreport written to {report['dir']} and logged to the search's MLflow parent run "
          f"(artifacts under {REPORT_DIR}/)")
    return 0
