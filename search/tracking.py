"""MLflow for a search: one parent run per search, one nested run per trial, never twice.

All logging happens in the driver (a Tune callback), so trials on other nodes need no access
to the tracking store. Ray's MLflowLoggerCallback would open a second run for a resumed trial
and leave the first RUNNING; here a trial's run id is kept in `mlflow_runs.json` and, failing
that, looked up by the tags `trial_id` + parent before a run is created.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ray.tune import Callback

from search.experiment import RUNS_FILE, SEARCH_FILE, ExperimentDir
from search.mlflow_utils import ensure_experiment
from search.trainable import EPOCH_METRICS, trial_number

PARENT_TAG = "mlflow.parentRunId"


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
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("prixfixe-search")
    except PackageNotFoundError:
        return "unknown"


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def start_parent_run(uri: str, experiment: str, tags: dict[str, str],
                     params: dict[str, str]) -> tuple[str, str]:
    """Create the search's parent run; returns (experiment_id, run_id)."""
    client = client_for(uri)
    exp_id = ensure_experiment(uri, experiment)
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
    """Log an exported model directory with `mlflow.pytorch` (and as plain artifacts)."""
    import mlflow
    import torch

    from prixfixe_blocks.export import load_predictor

    predictor = load_predictor(model_dir, device="cpu")
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.pytorch.log_model(predictor.model, name="model", serialization_format="pickle",
                                 pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
        mlflow.log_artifacts(str(model_dir), artifact_path="model_dir")
    # start_run(run_id=...) ends the run as FINISHED; keep the trial's own final status.


class MlflowTracking(Callback):
    """Nested MLflow runs for trials: params, per-epoch metrics, final status, node id."""

    def __init__(self, exp: ExperimentDir) -> None:
        self.exp = exp
        self._client: Any = None
        self._search: dict[str, Any] = {}
        self._reconciled = False

    def __getstate__(self) -> dict[str, Any]:
        return {"exp": self.exp}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["exp"])

    def setup(self, **info: Any) -> None:
        self._search = self.exp.read_json(SEARCH_FILE, {})
        self._client = client_for(self._search["tracking_uri"])

    # -- run lookup ----------------------------------------------------------------------------
    def run_id(self, trial: Any) -> str:
        """The trial's run: from mlflow_runs.json, else found by tags, else created."""
        runs = self.exp.read_json(RUNS_FILE, {})
        if trial.trial_id in runs:
            return runs[trial.trial_id]
        parent = self._search["parent_run_id"]
        found = self._client.search_runs(
            [self._search["experiment_id"]],
            filter_string=f"tags.trial_id = '{trial.trial_id}' and "
                          f"tags.`{PARENT_TAG}` = '{parent}'",
        )
        run_id = found[0].info.run_id if found else self._create_run(trial)
        runs[trial.trial_id] = run_id
        self.exp.write_json(RUNS_FILE, runs)
        return run_id

    def _create_run(self, trial: Any) -> str:
        from search.mlflow_utils import flat_params
        from spaces.base import config_to_spec

        config = dict(trial.config)
        index = trial_number(trial.experiment_tag)
        name = f"trial-{index:03d}-" + "-".join(str(config.get(r, "?")) for r in
                                                ("first", "core", "final"))
        run = self._client.create_run(
            self._search["experiment_id"], run_name=name,
            tags={"trial_id": trial.trial_id, "trial_number": str(index),
                  PARENT_TAG: self._search["parent_run_id"]},
        )
        run_id = run.info.run_id
        params = flat_params(config_to_spec(config, self._search.get("overrides")))
        if "strategy" in config:
            params["strategy_bundle"] = str(config["strategy"])
        from mlflow.entities import Param

        self._client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        self._client.log_text(run_id, json.dumps(config, indent=2, sort_keys=True),
                              "config.json")
        return run_id

    def reconcile(self, trials: list) -> list[str]:
        """Delete runs of trials Tune does not know (lost with a killed driver before Tune
        saved them; Tune runs them again as new trials), so no trial has two runs."""
        known = {t.trial_id for t in trials}
        runs = self.exp.read_json(RUNS_FILE, {})
        found = self._client.search_runs(
            [self._search["experiment_id"]],
            filter_string=f"tags.`{PARENT_TAG}` = '{self._search['parent_run_id']}'")
        by_trial = {r.data.tags.get("trial_id"): r.info.run_id for r in found}
        lost = {tid: rid for tid, rid in {**by_trial, **runs}.items() if tid not in known}
        for run_id in set(lost.values()):
            self._client.set_tag(run_id, "orphan", "lost with the driver before Tune saved it")
            self._client.delete_run(run_id)
        if lost:
            self.exp.write_json(RUNS_FILE, {k: v for k, v in runs.items() if k not in lost})
        return list(lost)

    # -- Tune hooks ----------------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if not self._reconciled:
            self._reconciled = True
            self.reconcile(trials)
        run_id = self.run_id(trial)
        if self._client.get_run(run_id).info.status != "RUNNING":
            self._client.update_run(run_id, status="RUNNING")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        from mlflow.entities import Metric, RunTag

        run_id = self.run_id(trial)
        epoch = int(result.get("epoch", 0))
        stamp = int(result.get("timestamp", 0) * 1000)
        metrics = [Metric(k, float(result[k]), stamp, epoch) for k in EPOCH_METRICS
                   if isinstance(result.get(k), int | float)]
        tags = [RunTag("node_id", str(result.get("node_id", "")))]
        if result.get("restored_epoch"):
            tags.append(RunTag("restored_from_epoch", str(result["restored_epoch"])))
        self._client.log_batch(run_id, metrics=metrics, tags=tags)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from search.progress import stop_reason

        run_id = self.run_id(trial)
        record = self.exp.read_json("trials.json", {}).get(trial.trial_id, {})
        epoch = int((trial.last_result or {}).get("epoch", record.get("epoch", 0)))
        reason = record.get("stop_reason") or stop_reason(
            {"epoch": epoch}, int(self._search.get("epochs", 0)), None, 0.0)
        if reason:
            self._client.set_tag(run_id, "stop_reason", reason)
        self._client.set_terminated(run_id, status="KILLED" if reason else "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from search.progress import trial_error

        run_id = self.run_id(trial)
        self._client.set_tag(run_id, "error", trial_error(trial))
        self._client.set_terminated(run_id, status="FAILED")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self.run_id(trial)
        retries = int(self._client.get_run(run_id).data.tags.get("retries", "0")) + 1
        self._client.set_tag(run_id, "retries", str(retries))
