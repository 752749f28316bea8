"""MLflow for a search: one parent run per search, one nested run per trial, never twice.

All logging happens in the driver (from the trial recorder, search/progress.py), so trials on
other nodes need no access to the tracking store. Ray's MLflowLoggerCallback would open a second
run for a resumed trial and leave the first RUNNING; here a trial's run id is kept in its record
(`mlflow_run_id` in trials.json) and, failing that, looked up by the tags `trial_id` + parent
before a run is created. These are plain helpers: the recorder decides when they are called.
"""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import torch
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.export import load_predictor
from prixfixe_blocks.training.fit import EPOCH_METRICS
from search.mlflow_utils import ensure_experiment, flat_params
from spaces.base import config_to_spec

PARENT_TAG = "mlflow.parentRunId"
RUN_ID = "mlflow_run_id"  # a trial record's key for its MLflow run (trials.json)
CONFIG_ARTIFACT = "config.json"
ORPHAN_NOTE = "lost with the driver before Tune saved it"


def code_version() -> str:
    """`git describe` of the checkout if available, else the installed package version."""
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=repo,
                             capture_output=True, text=True, timeout=5, check=True)
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return version("prixfixe-search")
    except PackageNotFoundError:
        return "unknown"


def client_for(uri: str) -> MlflowClient:
    """A tracking client for `uri`."""
    return MlflowClient(tracking_uri=uri)


def start_parent_run(uri: str, experiment: str, tags: dict[str, str],
                     params: dict[str, str], artifacts: str | None = None) -> tuple[str, str]:
    """Create the search's parent run (its experiment's artifacts in `artifacts` if given);
    returns (experiment_id, run_id)."""
    client = client_for(uri)
    exp_id = ensure_experiment(uri, experiment, artifacts)
    run = client.create_run(exp_id, run_name=f"search-{experiment}", tags=tags)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    return exp_id, run.info.run_id


def set_run_status(uri: str, run_id: str, status: str) -> None:
    """Mark a run RUNNING / FINISHED / KILLED / FAILED."""
    client = client_for(uri)
    if status == "RUNNING":
        client.update_run(run_id, status="RUNNING")
    else:
        client.set_terminated(run_id, status=status)


def log_best_model(uri: str, run_id: str, model_dir: Path) -> None:
    """Log an exported model directory with `mlflow.pytorch` (and as plain artifacts) into a
    trial's run, tagged `best_model`; the run keeps its own final status."""
    client = client_for(uri)
    status = client.get_run(run_id).info.status
    predictor = load_predictor(model_dir, device="cpu")
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.pytorch.log_model(predictor.model, name="model", serialization_format="pickle",
                                 pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
        mlflow.log_artifacts(str(model_dir), artifact_path="model_dir")
    client.set_tag(run_id, "best_model", "true")
    if status != "RUNNING":  # start_run(run_id=...) ended it as FINISHED
        client.set_terminated(run_id, status=status)


def run_name(record: dict[str, Any]) -> str:
    """`trial-003-bhi-autosome-autosome`: a trial run's name in the MLflow UI."""
    config = record.get("config", {})
    return f"trial-{record['index']:03d}-" + "-".join(str(config.get(r, "?")) for r in ROLES)


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
        run = self.client.create_run(
            self.search["experiment_id"], run_name=run_name(record),
            tags={"trial_id": record["trial_id"], "trial_number": str(record["index"]),
                  PARENT_TAG: self.parent},
        )
        run_id = run.info.run_id
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
        """One epoch's metrics (step = epoch) and the node / restore tags."""
        epoch = int(result.get("epoch", 0))
        stamp = int(result.get("timestamp", 0) * 1000)
        metrics = [Metric(k, float(result[k]), stamp, epoch) for k in EPOCH_METRICS
                   if isinstance(result.get(k), int | float)]
        tags = [RunTag("node_id", str(result.get("node_id", "")))]
        if result.get("restored_epoch"):
            tags.append(RunTag("restored_from_epoch", str(result["restored_epoch"])))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)

    def complete(self, run_id: str, stop_reason: str | None) -> None:
        """FINISHED, or KILLED with a `stop_reason` tag for a trial stopped early."""
        if stop_reason:
            self.client.set_tag(run_id, "stop_reason", stop_reason)
        self.client.set_terminated(run_id, status="KILLED" if stop_reason else "FINISHED")

    def fail(self, run_id: str, error: str) -> None:
        self.client.set_tag(run_id, "error", error)
        self.client.set_terminated(run_id, status="FAILED")

    def retried(self, run_id: str, retries: int) -> None:
        self.client.set_tag(run_id, "retries", str(retries))
