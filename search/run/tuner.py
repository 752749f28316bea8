"""The Tuner of a search and its parts: sampler, scheduler, searcher, trainable, resources.

`make_sampler` and `make_scheduler` are also what the search-efficiency replay
(benchmarks/replay.py) runs, so that it measures the search `run` does.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from search.experiment import OPTUNA_FILE, TUNE_DIR, ExperimentDir
from search.record.mlflow_utils import runs_url
from search.record.trials import TrialRecorder
from search.run.options import Prepared, SearchOptions
from search.run.resources import trial_gpus
from search.run.resumable import DataGuard, ResumableASHA, SearchClock
from search.run.tune_state import SnapshotSearchGenerator
from search.study.journal import describe_study, journal_storage
from search.study.objectives import (
    ParamCounter,
    objective_metrics,
    scheduler_name,
    searcher_target,
)
from search.study.searcher import (
    ASHA_REDUCTION,
    TPE_SETTINGS,
    DurableOptunaSearch,
    PicklableNSGAII,
    first_rung,
)
from search.trial.trainable import METRIC, MODE, REUSE_ACTORS, TrialSettings, train_trial
from spaces import grid_space

MAX_FAILURES = 2


def make_trainable(opts: SearchOptions, doc: dict[str, Any], root: Path) -> Any:
    """`train_trial` with the run's settings and per-trial resources (same name on restore)."""
    return tune.with_resources(tune.with_parameters(
        train_trial, settings=trial_settings(opts, doc, root)), trial_resources(opts, doc))


def trial_settings(opts: SearchOptions, doc: dict[str, Any], root: Path) -> TrialSettings:
    """What every trial of the search shares (also the base of its refit's trials)."""
    return TrialSettings(
        data_dir=doc["data_dir"], epochs=int(doc["epochs"]), overrides=dict(doc["overrides"]),
        val_folds=tuple(opts.val_folds), seed=opts.seed,
        marker_dir=str(root), fail_once=doc.get("fail_once", ""),
        plugins=tuple(opts.plugins), data_checksum=doc.get("data_checksum", ""),
    )


def trial_resources(opts: SearchOptions, doc: dict[str, Any]) -> dict[str, float]:
    """CPUs and GPUs per trial (GPU-first: search.json's `trial_gpus`)."""
    gpus = doc.get("trial_gpus")
    if gpus is None:  # a search.json from before GPU-first resources
        gpus = trial_gpus(opts.gpus_per_trial, opts.address)
    return {"cpu": opts.cpus_per_trial, "gpu": gpus}


def make_sampler(name: str, seed: int, space: Any = None,
                 tpe: Mapping[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of `--sampler`: TPE (TPE_SETTINGS, `tpe` overriding them for the
    replay's variants), random, or grid over `space`. Shared with the search-efficiency replay,
    which must use the same one."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return PicklableNSGAII(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, **{**TPE_SETTINGS, **(tpe or {})})


def make_scheduler(name: str, epochs: int, grace_period: int | None = None,
                   exp: ExperimentDir | None = None,
                   reduction_factor: int = ASHA_REDUCTION) -> Any:
    """ASHA on `epoch` (max_t = the run's epochs, first rung after the LR warm-up unless
    `grace_period` says; its rungs refilled from `exp`'s trial records on resume), or FIFO (no
    early stopping) for `none`."""
    if name == "asha":
        return ResumableASHA(time_attr="epoch", max_t=epochs,
                             grace_period=first_rung(epochs, grace_period),
                             reduction_factor=reduction_factor, exp=exp)
    return FIFOScheduler()


def make_searcher(prep: Prepared) -> Any:
    """OptunaSearch over the space with `make_sampler`'s sampler, its study kept in the
    experiment directory's Optuna journal and described there (objective name, search name,
    MLflow experiment, run options)."""
    opts = prep.opts
    sampler = make_sampler(opts.sampler, opts.seed, prep.space)
    points = prep.space.points() if opts.enqueue_presets and opts.sampler != "grid" else []
    metric, mode = searcher_target(opts.objective)
    journal = str(prep.exp.path(OPTUNA_FILE))
    doc = prep.exp.search()
    count = ParamCounter(doc["data_dir"], prep.overrides) if opts.max_params else None
    searcher = DurableOptunaSearch(
        space=prep.space, metric=metric, mode=mode, sampler=sampler,
        points_to_evaluate=points or None, storage=journal_storage(journal), journal=journal,
        study_name=opts.name, seed=opts.seed, epochs=opts.epochs,
        max_params=opts.max_params, count=count)
    describe_study(searcher.study, {
        "search": opts.name, "mlflow_experiment_id": doc["experiment_id"],
        "mlflow_parent_run_id": doc["parent_run_id"], "mlflow_tracking_uri": doc["tracking_uri"],
        "mlflow_runs_url": runs_url(doc["tracking_uri"], doc["experiment_id"]),
        "options": doc["options"]}, objective_metrics(opts.objective))
    return searcher


def make_tuner(prep: Prepared) -> Any:
    """The Tuner: searcher, ASHA on `epoch`, retries from checkpoints, the trial recorder."""
    opts, exp = prep.opts, prep.exp
    scheduler = make_scheduler(scheduler_name(opts.objective, opts.scheduler), opts.epochs,
                               opts.grace_period, exp)
    searcher = make_searcher(prep)
    if opts.max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=opts.max_concurrent)
    tune_config = tune.TuneConfig(  # the generator keeps a consistent copy of Tune's state
        metric=METRIC, mode=MODE, search_alg=SnapshotSearchGenerator(searcher, exp),
        scheduler=scheduler, num_samples=prep.trials, reuse_actors=REUSE_ACTORS,
    )
    clock = SearchClock(exp, opts.time_budget)  # --time-budget over all drivers of the search
    run_config = tune.RunConfig(
        name=TUNE_DIR, storage_path=exp.tune_storage, verbose=0, stop=clock,
        callbacks=[TrialRecorder(exp), DataGuard(clock)],
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
    )
    trainable = make_trainable(opts, exp.search(), exp.root)
    return tune.Tuner(trainable, tune_config=tune_config,
                      run_config=run_config)


