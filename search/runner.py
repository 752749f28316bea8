"""`prixfixe-search run` and `resume`: Ray Tune + OptunaSearch + ASHA, tracked in MLflow.

Everything a search needs to be resumed is in its experiment directory (search.json, Ray
Tune's state, the Optuna journal), so `resume NAME` needs only the name and the storage.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from prixfixe_blocks.data.format.dataset import check_dataset
from prixfixe_blocks.data.format.schema import dataset_checksum, open_dataset
from prixfixe_blocks.data.format.splits import VAL, select_rows
from prixfixe_blocks.data.store.location import DATA_CHANGED, is_uri, normalize
from prixfixe_blocks.errors import ConfigError, DataError
from prixfixe_blocks.plugins import load_plugins
from prixfixe_blocks.strategies.spec import schedule_overrides
from search.estimate import cluster_resources, local_resources, print_plan
from search.experiment import (
    OPTUNA_FILE,
    SEARCH_FILE,
    TUNE_DIR,
    ExperimentDir,
    open_experiment,
)
from search.finish import finish
from search.lineage import code_version, dataset_doc
from search.mlflow_utils import ARTIFACTS_DIR, resolve_tracking_uri, runs_url
from search.objectives import (
    SINGLE,
    ParamCounter,
    objective_metrics,
    scheduler_name,
    searcher_target,
)
from search.oom import handle_killed_workers
from search.progress import TrialRecorder
from search.resources import trial_gpus
from search.resumable import DataGuard, ResumableASHA, SearchClock
from search.searcher import (
    ASHA_REDUCTION,
    TPE_SETTINGS,
    DurableOptunaSearch,
    PicklableNSGAII,
    first_rung,
)
from search.study import describe_study, journal_storage
from search.tracking import set_run_status, start_parent_run
from search.trainable import (
    METRIC,
    MODE,
    REUSE_ACTORS,
    TrialSettings,
    fail_once_from_env,
    train_trial,
)
from search.tune_state import SnapshotSearchGenerator, prepare_tune_state
from spaces import check_space, grid_size, grid_space, load_space, parse_fixes

DEFAULT_TRIALS = 20
MAX_FAILURES = 2


@dataclass
class SearchOptions:
    """The options of `prixfixe-search run` (also what search.json stores)."""

    data: str
    name: str
    space: str = "prixfixe"
    trials: int | None = None
    epochs: int = 10
    sampler: str = "tpe"
    scheduler: str = "asha"
    max_concurrent: int | None = None
    gpus_per_trial: float | None = None
    cpus_per_trial: float = 1.0
    storage: str = "runs"
    tracking_uri: str | None = None
    seed: int = 0
    time_budget: float | None = None
    address: str | None = None
    fix: list[str] = field(default_factory=list)
    batches_per_epoch: int | None = None  # wins over `schedule`
    schedule: str = "pass"  # epoch length: one pass, or the published (strategies.SCHEDULES)
    grace_period: int | None = None  # ASHA's first rung (default: after the warm-up)
    width: str = "published"
    enqueue_presets: bool = True
    num_cpus: int | None = None  # embedded Ray only; default os.cpu_count()
    val_folds: tuple[int, ...] = (0,)
    plugins: list[str] = field(default_factory=list)  # modules registering blocks/strategies
    register: str | None = None  # MLflow registered-model name for the best model
    objective: str = SINGLE  # "r", or "r,params" (multi-objective: r vs parameter count)
    max_params: int | None = None  # configurations above this many parameters are not trained


@dataclass
class Prepared:
    """A checked search, ready to launch."""

    opts: SearchOptions
    exp: ExperimentDir
    space: Any
    meta: Any
    overrides: dict[str, Any]
    trials: int


def prepare(opts: SearchOptions) -> Prepared:
    """Validate data, plugins, space and sampler before anything starts; ConfigError/DataError
    if bad."""
    exp = open_experiment(opts.storage, opts.name)
    exp.pull()
    if exp.path(SEARCH_FILE).exists():
        raise ConfigError(f"search '{opts.name}' already exists at {exp.where}; use "
                          f"`prixfixe-search resume {opts.name}` or another --name")
    if opts.epochs < 1 or (opts.trials is not None and opts.trials < 1):
        raise ConfigError("--epochs and --trials must be at least 1")
    objective_metrics(opts.objective)
    if opts.max_params is not None and opts.max_params < 1:
        raise ConfigError(f"--max-params must be positive, got {opts.max_params}")
    meta = open_dataset(opts.data)
    validation = select_rows(meta, VAL, opts.val_folds, path=opts.data).describe()
    print(f"validation rows: {validation} (test rows are never read)")
    load_plugins(opts.plugins)
    space = load_space(opts.space, width=opts.width, fixed=parse_fixes(opts.fix))
    grid = opts.sampler == "grid"
    trials = opts.trials or DEFAULT_TRIALS
    if grid:
        size = grid_size(space)
        if opts.trials is not None and opts.trials > size:
            print(f"--trials {opts.trials} is more than the grid's {size} combinations: "
                  f"running {size}")
        trials = min(opts.trials or size, size)
    overrides = run_overrides(opts)
    first_rung(opts.epochs, opts.grace_period)  # a bad --grace-period fails now
    checked = check_space(space, meta=meta, overrides=overrides, seed=opts.seed, grid=grid,
                          max_params=opts.max_params)
    print(f"space '{opts.space}' checked: {checked} sampled configurations build and train "
          "one step")
    return Prepared(opts, exp, space, meta, overrides, trials)


def run_overrides(opts: SearchOptions) -> dict[str, Any]:
    """Spec fields set by the run rather than the space: the epochs (they drive the LR
    schedules) and the epoch length (--batches-per-epoch, else --schedule)."""
    return {"strategy.epochs": opts.epochs,
            **schedule_overrides(opts.schedule, opts.batches_per_epoch)}


def artifact_root(opts: SearchOptions) -> str | None:
    """Where MLflow keeps the artifacts of a search whose --storage is an object store:
    `STORAGE/mlartifacts`, in the same bucket (None: the tracking store's default)."""
    if not is_uri(opts.storage):
        return None
    return f"{opts.storage.partition('?')[0].rstrip('/')}/{ARTIFACTS_DIR}"


def run_search(opts: SearchOptions) -> dict[str, Any]:
    """Check, then run a new search; returns the summary written by `finish`."""
    prep = prepare(opts)
    checksum = dataset_checksum(prep.meta)
    with ray_session(opts.address, opts.num_cpus):
        gpus = trial_gpus(opts.gpus_per_trial, opts.address)  # may refuse: nothing written yet
        print_plan(replace(prep, opts=replace(opts, gpus_per_trial=gpus)), cluster_resources())
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
            "time_budget": opts.time_budget, "overrides": prep.overrides,
            "tracking_uri": uri, "experiment_id": exp_id, "parent_run_id": parent,
            "data_dir": normalize(opts.data), "data_checksum": checksum, "trial_gpus": gpus,
            "fail_once": fail_once_from_env(), "dataset": dataset, "created": time.time(),
        })
        tuner = make_tuner(prep)
        return launch(prep.exp, tuner)


def dry_run(opts: SearchOptions) -> int:
    """Check the search and print its plan and time estimate; start no trial, write nothing."""
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
    prepare_tune_state(exp)  # Tune's own copy may be torn by the kill (search/tune_state.py)
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


class ray_session:  # noqa: N801 (used as a context manager, reads like a function)
    """ray.init for the search (an existing cluster, or embedded) and shutdown after."""

    def __init__(self, address: str | None, num_cpus: int | None) -> None:
        self.address, self.num_cpus = address, num_cpus

    def __enter__(self) -> None:
        # Snapshot Tune's experiment state every second (default: every >= 10 s): a driver
        # lost later re-runs at most the last second's work, not finished trials' last epoch.
        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
        for name in ("ray.tune", "ray.train", "ray.air"):
            logging.getLogger(name).setLevel(logging.WARNING)
        handle_killed_workers()  # a trial killed for memory fails; the search goes on
        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False,
                     log_to_driver=False)

    def __exit__(self, *exc: Any) -> None:
        ray.shutdown()


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


def options_from_args(args: argparse.Namespace) -> SearchOptions:
    """SearchOptions from the `run` subcommand's arguments."""
    return SearchOptions(
        data=args.data, name=args.name, space=args.space, trials=args.trials,
        epochs=args.epochs, sampler=args.sampler, scheduler=args.scheduler,
        max_concurrent=args.max_concurrent, gpus_per_trial=args.gpus_per_trial,
        cpus_per_trial=args.cpus_per_trial, storage=args.storage,
        tracking_uri=args.tracking_uri, seed=args.seed, time_budget=args.time_budget,
        address=args.address, fix=list(args.fix), batches_per_epoch=args.batches_per_epoch,
        schedule=args.schedule, grace_period=args.grace_period, width=args.width,
        enqueue_presets=not args.no_enqueue_presets,
        plugins=list(args.plugins), register=args.register, objective=args.objective,
        max_params=args.max_params,
    )


def cli_run(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search run` (`--dry-run`: the plan and estimate only)."""
    if args.dry_run:
        return dry_run(options_from_args(args))
    summary = run_search(options_from_args(args))
    return 0 if summary.get("best") else 1


def cli_resume(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search resume`."""
    summary = resume_search(args.name, args.storage, args.tracking_uri, args.address)
    return 0 if summary.get("best") else 1
