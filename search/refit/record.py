"""The MLflow side of a refit: one nested run per refit trial under the search's parent run.

`RefitRecorder` is the refit's only Ray Tune callback. It keeps each member's status, epoch,
training-row count and MLflow run id in refit.json, creates the member's run once (a resumed
refit continues it: the id is in refit.json, else found by its `refit_member` tag) and logs the
epoch metrics there: the search's recorder base (search/record/base.py) with refit.json's
members as its entries.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import Param

from search.experiment import REFIT_FILE
from search.record.base import Recorder
from search.record.lineage import dataset_input, source_tags
from search.record.mlflow_utils import flat_params
from search.record.tracking import OPTUNA_TAG, PARENT_TAG, client_for
from search.trial.trainable import REFIT_CONFIG, REFIT_SEED
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


class RefitRecorder(Recorder):
    """Keeps refit.json's members and their MLflow runs."""

    FILE = REFIT_FILE

    @property
    def plan(self) -> dict[str, Any]:
        """refit.json: configurations, seeds, members."""
        return self.doc

    def _config(self, member: dict[str, Any]) -> dict[str, Any]:
        return self.plan["configs"][int(member[REFIT_CONFIG])]

    def entry(self, trial: Any) -> dict[str, Any]:
        config = self.plan["configs"][int(trial.config[REFIT_CONFIG])]
        return self.plan["members"][member_key(config["key"], int(trial.config[REFIT_SEED]))]

    def new_run(self, entry: dict[str, Any]) -> str:
        return member_run(self.search, self._config(entry), int(entry[REFIT_SEED]))

    def name(self, entry: dict[str, Any]) -> str:
        return f"refit {member_key(self._config(entry)['key'], int(entry[REFIT_SEED]))}"

    def started(self, entry: dict[str, Any], resumed: bool) -> str:
        return f"started ({self._config(entry)['epochs']} epochs on {FIT_ROWS})"

    def update(self, entry: dict[str, Any], result: dict[str, Any]) -> str:
        entry.update(epoch=int(result.get("epoch", 0)), train_rows=result.get("train_rows"),
                     n_parameters=result.get("n_parameters"))
        return f"epoch {entry['epoch']}: train_loss {result.get('train_loss', 0):.4f}"
