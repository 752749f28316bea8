"""Run a new search and resume an interrupted one: Ray Tune + OptunaSearch + ASHA, tracked in
MLflow.

Everything a search needs to be resumed is in its experiment directory (search.json, Ray
Tune's state, the Optuna journal), so `resume NAME` needs only the name and the storage.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

from ray import tune

from prixfixe_blocks.data.format.dataset import check_dataset
from prixfixe_blocks.data.format.schema import dataset_checksum
from prixfixe_blocks.data.store.location import DATA_CHANGED, is_uri, normalize
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.plugins import load_plugins
from search.experiment import SEARCH_FILE, ExperimentDir, open_experiment
from search.record.lineage import code_version, dataset_doc
from search.record.mlflow_utils import ARTIFACTS_DIR, resolve_tracking_uri
from search.record.tracking import set_run_status, start_parent_run
from search.run.budget import WRAP_UP_S, clock_budget
from search.run.budget_costs import apply_budget
from search.run.estimate import cluster_resources, local_resources, print_plan
from search.run.finish import finish
from search.run.options import SearchOptions, prepare
from search.run.resources import trial_gpus
from search.run.resumable import SearchClock
from search.run.session import ray_session
from search.run.tune_state import prepare_tune_state
from search.run.tuner import make_trainable, make_tuner
from search.trial.trainable import fail_once_from_env


def artifact_root(opts: SearchOptions) -> str | None:
    """Where MLflow keeps the artifacts of a search whose --storage is an object store:
    `STORAGE/mlartifacts`, in the same bucket (None: the tracking store's default)."""
    if not is_uri(opts.storage):
        return None
    return f"{opts.storage.partition('?')[0].rstrip('/')}/{ARTIFACTS_DIR}"


def run_search(opts: SearchOptions) -> dict[str, Any]:
    """Check, then run a new search; returns the summary written by `finish`. A time budget
    is for the whole command: what planning, checks and start-up took comes off the search's
    clock, and `WRAP_UP_S` is kept for the wrap-up."""
    started, budget = time.time(), opts.time_budget
    if opts.budget_plan:
        opts = apply_budget(opts)
    prep = prepare(opts)
    checksum = dataset_checksum(prep.meta)
    with ray_session(opts.address, opts.num_cpus):
        gpus = trial_gpus(opts.gpus_per_trial, opts.address)  # may refuse: nothing written yet
        print_plan(replace(prep, opts=replace(opts, gpus_per_trial=gpus)), cluster_resources())
        if budget is not None:  # may refuse: nothing written yet
            spent = time.time() - started
            opts = replace(opts, time_budget=clock_budget(budget, spent))
            prep = replace(prep, opts=opts)
            print(f"time budget {budget:g} s in all: {spent:.0f} s of planning and start-up, "
                  f"~{WRAP_UP_S:.0f} s kept for the wrap-up; the search's clock gets "
                  f"{opts.time_budget:.0f} s", flush=True)
        uri = resolve_tracking_uri(opts.tracking_uri, prep.exp.root.parent)
        tags = {"space": opts.space, "data_checksum": checksum,
                "sampler": opts.sampler, "scheduler": opts.scheduler, "seed": str(opts.seed),
                "code_version": code_version(), "width": opts.width, "search": opts.name}
        params = {"trials": str(prep.trials), "epochs": str(opts.epochs), "data": opts.data,
                  "fix": ",".join(opts.fix) or "-"}
        dataset = dataset_doc(prep.meta, opts.data, tuple(opts.val_folds))
        exp_id, parent = start_parent_run(uri, opts.name, tags, params, dataset,
                                          artifact_root(opts))
        prep.exp.root.mkdir(parents=True, exist_ok=True)
        prep.exp.write_json(SEARCH_FILE, {
            "options": asdict(opts), "trials": prep.trials, "epochs": opts.epochs,
            "time_budget": opts.time_budget, "time_budget_asked": budget,
            "overrides": prep.overrides,
            "tracking_uri": uri, "experiment_id": exp_id, "parent_run_id": parent,
            "data_dir": normalize(opts.data), "data_checksum": checksum, "trial_gpus": gpus,
            "fail_once": fail_once_from_env(), "dataset": dataset, "created": time.time(),
        })
        tuner = make_tuner(prep)
        return launch(prep.exp, tuner)


def dry_run(opts: SearchOptions) -> int:
    """Check the search and print its plan and time estimate; start no trial, write nothing."""
    if opts.budget_plan:
        opts = apply_budget(opts)
    prep = prepare(opts)
    if opts.address:
        with ray_session(opts.address, opts.num_cpus):
            gpus = trial_gpus(opts.gpus_per_trial, opts.address)
            print_plan(replace(prep, opts=replace(opts, gpus_per_trial=gpus)),
                       cluster_resources())
    else:
        print_plan(prep, local_resources(opts.num_cpus))
    print(f"dry run: no trial started, nothing written (search '{opts.name}' at "
          f"{prep.exp.where})")
    return 0


def resume_search(name: str, storage: str = "runs", tracking_uri: str | None = None,
                  address: str | None = None) -> dict[str, Any]:
    """Restore an interrupted search: finished trials kept, unfinished ones continued."""
    exp = open_experiment(storage, name)
    exp.pull()
    doc = exp.search()
    if doc.get("data_checksum"):  # the data must be what the trials so far were trained on
        check_dataset(doc["data_dir"], doc["data_checksum"])
    if tracking_uri and tracking_uri != doc["tracking_uri"]:
        doc["tracking_uri"] = tracking_uri
        exp.write_json(SEARCH_FILE, doc)
    prepare_tune_state(exp)  # Tune's own copy may be torn by the kill (run/tune_state.py)
    opts = SearchOptions(**{**doc["options"], "address": address or doc["options"]["address"]})
    load_plugins(opts.plugins)  # before Tune unpickles the searcher's space
    print(SearchClock(exp, opts.time_budget).describe())
    with ray_session(opts.address, opts.num_cpus):
        trainable = make_trainable(opts, doc, exp.root)
        tuner = tune.Tuner.restore(exp.tune_path, trainable=trainable,
                                   resume_unfinished=True, resume_errored=True)
        return launch(exp, tuner)


def launch(exp: ExperimentDir, tuner: Any) -> dict[str, Any]:
    """Fit, then write the leaderboard, plot, best model and MLflow summary."""
    doc = exp.search()
    set_run_status(doc["tracking_uri"], doc["parent_run_id"], "RUNNING")
    exp.mark_driver("running")
    try:
        results = tuner.fit()
    except BaseException:
        exp.mark_driver("failed")
        set_run_status(doc["tracking_uri"], doc["parent_run_id"], "FAILED")
        raise
    changed = [r for r in exp.trial_records().values() if DATA_CHANGED in r.get("last_error", "")]
    if changed:
        exp.mark_driver("failed")
        set_run_status(doc["tracking_uri"], doc["parent_run_id"], "FAILED")
        raise DataError(f"search stopped: trial {changed[0]['index']} found that the "
                        f"{DATA_CHANGED}: {changed[0]['last_error']}")
    summary = finish(exp, results)
    exp.mark_driver("finished")
    return summary


