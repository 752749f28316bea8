"""MLflow for a search: one parent run per search, one nested run per trial, never twice.

All logging happens in the driver (from the recorders, search/record/base.py), so trials on
other nodes need no access to the tracking store. Ray's MLflowLoggerCallback would open a second
run for a resumed trial and leave the first RUNNING; here a trial's run id is kept in its record
(`mlflow_run_id` in trials.json) and, failing that, looked up by the tags `trial_id` + parent
before a run is created. These are plain helpers: the recorder decides when they are called.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.fit import EPOCH_METRICS
from search.experiment import NUMBER, RUN_ID
from search.record.lineage import dataset_input, source_tags
from search.record.mlflow_utils import ensure_experiment, flat_params, run_url
from search.record.mlflow_view import save_view
from search.record.model_logging import log_model_dir
from search.report.leaderboard import (
    DONE_STATES,
    METRIC,
    best_row,
    blocks_text,
    leaderboard_rows,
    num_text,
    trial_label,
)
from search.trial.trainable import PARAMS
from spaces.base import config_to_spec

PARENT_TAG = "mlflow.parentRunId"
CONFIG_ARTIFACT = "config.json"
MODEL_NAME = "model"  # the best model's name in its trial run (`runs:/<run id>/model`)
NOTE_TAG = "mlflow.note.content"  # a run's description in the MLflow UI (markdown)
OPTUNA_TAG = "optuna_trial_number"
SEARCH_PREFIX = "search_"  # the parent run's own metrics never share a name with a trial's
PARENT_METRICS = {METRIC: f"{SEARCH_PREFIX}{METRIC}",  # leaderboard key -> parent metric
                  "val_spearman": f"{SEARCH_PREFIX}best_trial_val_spearman"}
ORPHAN_NOTE = "lost with the driver before Tune saved it"


def client_for(uri: str) -> MlflowClient:
    """A tracking client for `uri`."""
    return MlflowClient(tracking_uri=uri)


def start_parent_run(uri: str, experiment: str, tags: dict[str, str], params: dict[str, str],
                     dataset: dict[str, str] | None = None,
                     artifacts: str | None = None) -> tuple[str, str]:
    """Create the search's parent run (source tags, the dataset input; its experiment's
    artifacts in `artifacts` if given) and save the experiment's view (what the printed URL
    opens); returns (experiment_id, run_id)."""
    client = client_for(uri)
    exp_id = ensure_experiment(uri, experiment, artifacts)
    save_view(client, exp_id)
    run = client.create_run(exp_id, run_name=f"search-{experiment}",
                            tags={**source_tags(), **tags})
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    if dataset:
        client.log_inputs(run.info.run_id, datasets=[dataset_input(dataset)])
    return exp_id, run.info.run_id


def set_run_status(uri: str, run_id: str, status: str) -> None:
    """Mark a run RUNNING / FINISHED / KILLED / FAILED."""
    client = client_for(uri)
    if status == "RUNNING":
        client.update_run(run_id, status="RUNNING")
    else:
        client.set_terminated(run_id, status=status)


def log_best_model(uri: str, run_id: str, model_dir: Path,
                   registered_name: str | None = None) -> str:
    """Log an exported model directory into its trial's run as one MLflow model (a pyfunc
    logged as code with the directory's safetensors weights and JSON files: nothing pickled;
    search/model_logging.py), linked to the run's metrics at the best epoch and registered as
    `registered_name` when given; the run is tagged `best_model` and keeps its own final
    status. Returns the model id."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
    client = client_for(uri)
    status = client.get_run(run_id).info.status
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        info = log_model_dir(model_dir, MODEL_NAME, registered_name)
    client.set_tag(run_id, "best_model", "true")
    if status != "RUNNING":  # start_run(run_id=...) ended it as FINISHED
        client.set_terminated(run_id, status=status)
    return str(info.model_id)


def run_name(record: dict[str, Any]) -> str:
    """`trial-002-d2c90d85-bhi-autosome-autosome`: a trial run's name in the MLflow UI (Optuna
    trial number, Tune trial id, blocks)."""
    config = record.get("config", {})
    return (f"trial-{trial_label(record)}-{record['trial_id']}-"
            + "-".join(str(config.get(r, "?")) for r in ROLES))


class TrialRuns:
    """The nested MLflow runs of one search's trials, addressed through trial records.

    `search` is search.json (tracking URI, experiment id, parent run id, run overrides).
    """

    def __init__(self, search: dict[str, Any]) -> None:
        self.search = search
        self.parent = search["parent_run_id"]
        self.client = client_for(search["tracking_uri"])

    def _children(self, where: str = "") -> list[Any]:
        query = f"tags.`{PARENT_TAG}` = '{self.parent}'" + (f" and {where}" if where else "")
        return self.client.search_runs([self.search["experiment_id"]], filter_string=query)

    def run_id(self, record: dict[str, Any]) -> str:
        """The record's run: its `mlflow_run_id`, else found by tags, else created. The
        caller stores the id in the record."""
        if record.get(RUN_ID):
            return str(record[RUN_ID])
        found = self._children(f"tags.trial_id = '{record['trial_id']}'")
        return found[0].info.run_id if found else self._create(record)

    def _create(self, record: dict[str, Any]) -> str:
        config = record.get("config", {})
        tags = {**source_tags(), "trial_id": record["trial_id"], PARENT_TAG: self.parent}
        if record.get(NUMBER) is not None:
            tags[OPTUNA_TAG] = str(record[NUMBER])
        run = self.client.create_run(self.search["experiment_id"], run_name=run_name(record),
                                     tags=tags)
        run_id = run.info.run_id
        if self.search.get("dataset"):
            self.client.log_inputs(run_id, datasets=[dataset_input(self.search["dataset"])])
        params = flat_params(config_to_spec(config, self.search.get("overrides")))
        if "strategy" in config:
            params["strategy_bundle"] = str(config["strategy"])
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        self.client.log_text(run_id, json.dumps(config, indent=2, sort_keys=True),
                             CONFIG_ARTIFACT)
        return run_id

    def delete_lost(self, known: set[str], lost_records: list[dict[str, Any]]) -> list[str]:
        """Delete the runs of trials Tune does not know: those of `lost_records` and any run
        under the parent tagged with an unknown trial id (created just before the driver was
        lost, before its record was saved). Returns the deleted run ids."""
        run_ids = {r[RUN_ID] for r in lost_records if r.get(RUN_ID)}
        run_ids |= {r.info.run_id for r in self._children()
                    if r.data.tags.get("trial_id") not in known}
        for run_id in sorted(run_ids):
            self.client.set_tag(run_id, "orphan", ORPHAN_NOTE)
            self.client.delete_run(run_id)
        return sorted(run_ids)

    def mark_running(self, run_id: str) -> None:
        if self.client.get_run(run_id).info.status != "RUNNING":
            self.client.update_run(run_id, status="RUNNING")

    def log_epoch(self, run_id: str, result: dict[str, Any]) -> None:
        """One epoch's metrics (step = epoch; the model's parameter count too, a column of
        the saved view) and the node / restore tags."""
        epoch = int(result.get("epoch", 0))
        stamp = int(result.get("timestamp", 0) * 1000)
        metrics = [Metric(k, float(result[k]), stamp, epoch) for k in (*EPOCH_METRICS, PARAMS)
                   if isinstance(result.get(k), int | float)]
        tags = [RunTag("node_id", str(result.get("node_id", "")))]
        if result.get("restored_epoch"):
            tags.append(RunTag("restored_from_epoch", str(result["restored_epoch"])))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)

    def complete(self, run_id: str, stop_reason: str | None) -> None:
        """FINISHED, tagged `stopped_early` (true with a `stop_reason` for a trial the scheduler
        or the time budget stopped, as Ray Tune's own MLflow logger ends terminated trials)."""
        tags = [RunTag("stopped_early", "true" if stop_reason else "false")]
        if stop_reason:
            tags.append(RunTag("stop_reason", stop_reason))
        self.client.log_batch(run_id, tags=tags)
        self.client.set_terminated(run_id, status="FINISHED")

    def fail(self, run_id: str, error: str) -> None:
        self.client.set_tag(run_id, "error", error)
        self.client.set_terminated(run_id, status="FAILED")

    def retried(self, run_id: str, retries: int) -> None:
        self.client.set_tag(run_id, "retries", str(retries))


def update_parent(search: dict[str, Any], records: dict[str, dict[str, Any]]) -> None:
    """The parent run's description (the leaderboard, each trial linked to its run) and its
    own metrics, named `search_*` so they never mix with the trials' curves (step = trials
    ended so far)."""
    client = client_for(search["tracking_uri"])
    rows = leaderboard_rows(records)
    ended = sum(r.get("status") in DONE_STATES for r in records.values())
    names = {r[RUN_ID]: run_name(r) for r in records.values() if r.get(RUN_ID)}
    title = f"Leaderboard: {ended} of {search.get('trials', len(records))} trials ended"
    tags = [RunTag(NOTE_TAG, markdown_table(rows, search["experiment_id"], names, title))]
    metrics = [Metric(f"{SEARCH_PREFIX}trials_ended", float(ended), _now(), ended)]
    best = best_row(rows)
    if best is not None:
        metrics += [Metric(name, float(best[k]), _now(), ended)
                    for k, name in PARENT_METRICS.items() if isinstance(best.get(k), int | float)]
    client.log_batch(search["parent_run_id"], metrics=metrics, tags=tags)


def _now() -> int:
    return int(time.time() * 1000)


def markdown_table(rows: list[dict[str, Any]], experiment_id: str, run_names: dict[str, str],
                   title: str) -> str:
    """The leaderboard as markdown for the MLflow UI: each trial's run name links to its run
    (`run_names`: run id -> name; a hash link, so it works on any host the UI is served on,
    in model-training mode)."""
    lines = [f"### {title}", "",
             "| # | trial run | Optuna trial | Tune trial | status | epochs | best val r | "
             "val rho | blocks + strategy |",
             "|---:|---|---:|---|---|---:|---:|---:|---|"]
    for r in rows:
        run_id = r[RUN_ID]
        name = run_names.get(run_id, run_id or "-")
        link = f"[{name}]({run_url('', experiment_id, run_id)})" if run_id else name
        lines.append(f"| {r['rank']} | {link} | {r['trial']} | {r['trial_id']} | {r['status']} "
                     f"| {r['epoch']} | {num_text(r[METRIC], 0)} "
                     f"| {num_text(r['val_spearman'], 0)} "
                     f"| {blocks_text(r)} |")
    return "\n".join(lines) + "\n"
