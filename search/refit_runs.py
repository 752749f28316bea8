"""The MLflow side of a refit: one nested run per refit trial under the search's parent run.

`RefitRecorder` is the refit's only Ray Tune callback. It keeps each member's status, epoch,
training-row count and MLflow run id in refit.json, creates the member's run once (a resumed
refit continues it: the id is in refit.json, else found by its `refit_member` tag) and logs the
epoch metrics there, as the search's trial recorder does for trials.
"""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities import Param
from ray.tune import Callback

from search.experiment import REFIT_FILE, RUN_ID, ExperimentDir
from search.lineage import dataset_input, source_tags
from search.mlflow_utils import flat_params
from search.progress import trial_error
from search.tracking import OPTUNA_TAG, PARENT_TAG, TrialRuns, client_for
from search.trainable import REFIT_CONFIG, REFIT_SEED
from spaces.base import config_to_spec

REFIT_TAG = "refit"  # "true" on every run a refit creates
MEMBER_TAG = "refit_member"  # a refit trial's run: its member key (`top1-seed0`)
FIT_ROWS = "train + val"


def member_key(config_key: str, seed: int) -> str:
    """`top1-seed0`: one refit trial (configuration key, seed)."""
    return f"{config_key}-seed{seed}"


def find_run(search: dict[str, Any], tags: dict[str, str]) -> str | None:
    """The id of a run under the search's parent with these tags (None if there is none)."""
    query = " and ".join([f"tags.`{PARENT_TAG}` = '{search['parent_run_id']}'",
                          *(f"tags.`{k}` = '{v}'" for k, v in tags.items())])
    found = client_for(search["tracking_uri"]).search_runs([search["experiment_id"]],
                                                           filter_string=query)
    return found[0].info.run_id if found else None


def create_refit_run(search: dict[str, Any], name: str, tags: dict[str, str],
                     params: dict[str, str]) -> str:
    """A run nested under the search's parent run, with the source tags, the dataset input,
    `tags` and `params`; found again by `tags` rather than created twice."""
    existing = find_run(search, tags)
    if existing:
        return existing
    client = client_for(search["tracking_uri"])
    run = client.create_run(search["experiment_id"], run_name=name, tags={
        **source_tags(), PARENT_TAG: search["parent_run_id"], REFIT_TAG: "true", **tags})
    if search.get("dataset"):
        client.log_inputs(run.info.run_id, datasets=[dataset_input(search["dataset"])])
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    return run.info.run_id


def member_run(search: dict[str, Any], config: dict[str, Any], seed: int) -> str:
    """Create (or find) the MLflow run of one refit trial."""
    key = member_key(config["key"], seed)
    params = flat_params(config_to_spec(config["config"], search.get("overrides")))
    params.update({"refit.seed": str(seed), "refit.epochs": str(config["epochs"]),
                   "refit.rows": FIT_ROWS, "refit.source_trial": config["trial"]})
    tags = {MEMBER_TAG: key, "refit_config": config["key"], "seed": str(seed),
            "source_trial_run_id": config["source_run_id"] or "", OPTUNA_TAG: config["trial"]}
    return create_refit_run(search, f"refit-{key}", tags, params)


class RefitRecorder(Callback):
    """Keeps refit.json's members and their MLflow runs; holds only paths so it pickles."""

    def __init__(self, exp: ExperimentDir) -> None:
        self.exp = exp
        self._plan: dict[str, Any] | None = None
        self._runs: TrialRuns | None = None
        self._start = time.time()

    def __getstate__(self) -> dict[str, Any]:
        return {"exp": self.exp}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["exp"])

    @property
    def plan(self) -> dict[str, Any]:
        if self._plan is None:
            self._plan = self.exp.read_json(REFIT_FILE)
        return self._plan

    @property
    def runs(self) -> TrialRuns:
        if self._runs is None:
            self._runs = TrialRuns(self.exp.search())
        return self._runs

    def _member(self, trial: Any) -> tuple[str, dict[str, Any]]:
        config = self.plan["configs"][int(trial.config[REFIT_CONFIG])]
        seed = int(trial.config[REFIT_SEED])
        key = member_key(config["key"], seed)
        member = self.plan["members"][key]
        if not member.get(RUN_ID):
            member[RUN_ID] = member_run(self.runs.search, config, seed)
        return key, member

    def _save(self) -> None:
        self.exp.write_json(REFIT_FILE, self.plan)

    def _say(self, key: str, text: str) -> None:
        print(f"[{time.time() - self._start:7.1f}s] refit {key} {text}", flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key, member = self._member(trial)
        member["status"] = "RUNNING"
        self._save()
        self.runs.mark_running(member[RUN_ID])
        epochs = self.plan["configs"][member[REFIT_CONFIG]]["epochs"]
        self._say(key, f"started ({epochs} epochs on {FIT_ROWS})")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        key, member = self._member(trial)
        member.update(epoch=int(result.get("epoch", 0)), train_rows=result.get("train_rows"),
                      n_parameters=result.get("n_parameters"))
        self._save()
        self.runs.log_epoch(member[RUN_ID], result)
        self._say(key, f"epoch {member['epoch']}: train_loss {result.get('train_loss', 0):.4f}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key, member = self._member(trial)
        member["status"] = "FINISHED"
        self._save()
        self.runs.complete(member[RUN_ID], None)
        self._say(key, "finished")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key, member = self._member(trial)
        member["retries"] = member.get("retries", 0) + 1
        self._save()
        self.runs.retried(member[RUN_ID], member["retries"])
        self._say(key, f"failed; retrying from its last checkpoint: {trial_error(trial)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key, member = self._member(trial)
        member.update(status="FAILED", last_error=trial_error(trial))
        self._save()
        self.runs.fail(member[RUN_ID], member["last_error"])
        self._say(key, f"FAILED: {member['last_error']}")
