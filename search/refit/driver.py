"""`prixfixe-search refit NAME --top K --seeds S`: the best configurations of a finished search,
retrained on train + val, combined into an ensemble chosen on validation rows, scored on the
test split.

Each of the K best configurations (by best validation Pearson; also the presets the search ran)
is retrained with S seeds on the FIT rows (train + val, never test) for the epoch count it
reached its best at in the search, with the search's LR schedule (the run's
`strategy.epochs`), stopped there. The K x S (+ presets x S) trainings are Ray Tune trials over
a grid of (configuration, seed), placed on the cluster like the search's trials, checkpointed
every epoch and resumable (`refit NAME --resume`, or the same command again: Tune's state in
`refit-tune/` is restored). Each trial has a nested MLflow run under the search's parent run.
Every configuration and the k-mer ridge are then candidates of an ensemble chosen by greedy
forward selection on validation rows (search/refit/select.py); the chosen members and weights
make the ensemble model directory (`refit/ensemble/`; `predict` and `evaluate` take it), then
everything is scored on the test split (search/refit/scores.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ray import tune

from prixfixe_blocks.data.format.splits import FIT
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.evaluation.baseline import Baseline, fit_baseline
from prixfixe_blocks.plugins import load_plugins
from prixfixe_blocks.training.export import load_predictor, save_ensemble
from search.experiment import (
    BEST_MODEL_DIR,
    ENSEMBLE_DIR,
    REFIT_DIR,
    REFIT_FILE,
    REFIT_TUNE_DIR,
    ExperimentDir,
    copy_dir,
    list_searches,
    open_experiment,
)
from search.refit.record import RefitRecorder, member_key
from search.refit.scores import evaluate_refit
from search.refit.select import SELECTION, select_refit, selection_record, write_selected
from search.report.leaderboard import leaderboard_rows
from search.run.options import SearchOptions
from search.run.session import ray_session
from search.run.tuner import MAX_FAILURES, trial_resources, trial_settings
from search.trial.trainable import (
    METRIC,
    REFIT_CONFIG,
    REFIT_SEED,
    REUSE_ACTORS,
    RefitSettings,
    fail_once_from_env,
    refit_trial,
)
from spaces import load_space, parse_fixes

DEFAULT_TOP, DEFAULT_SEEDS = 3, 2
MEMBERS_DIR = f"{ENSEMBLE_DIR}/members"  # every refit model: the selection's candidates
TOP, PRESET = "top", "preset"  # a refit configuration's role
REFITTABLE = ("FINISHED", "STOPPED")  # trial statuses whose configuration can be refit


@dataclass(frozen=True)
class RefitOptions:
    """The options of `prixfixe-search refit` (top / seeds None: the saved plan's, or the
    defaults)."""

    name: str
    storage: str = "runs"
    top: int | None = None
    seeds: int | None = None
    presets: bool = True
    resume: bool = False
    address: str | None = None
    num_cpus: int | None = None  # embedded Ray only


def finished_search(storage: str, name: str) -> ExperimentDir:
    """The experiment directory of a finished search; ConfigError naming the searches in
    `storage` (and their states) when `name` is unknown or not finished."""
    exp = open_experiment(storage, name)
    exp.pull()
    found = list_searches(storage)
    listing = ", ".join(f"{n} ({state})" for n, state in found.items()) or "none"
    where = f"searches in {storage}: {listing}"
    if name not in found:
        raise ConfigError(f"no search '{name}' in {storage} ({where})")
    if found[name] != "finished":
        hint = (f"; `prixfixe-search resume {name}` finishes it" if not exp.driver_alive()
                else "; wait for it to finish")
        raise ConfigError(f"search '{name}' is not finished (its driver is {found[name]}{hint}; "
                          f"{where})")
    return exp


def choose_configs(exp: ExperimentDir, doc: dict[str, Any], top: int,
                   presets: bool) -> list[dict[str, Any]]:
    """The `top` best refittable trials (rank order), then the trials of the space's named
    points (the DREAM presets) not among them: key, role, source trial, config, epochs."""
    rows = [r for r in leaderboard_rows(exp.trial_records())
            if r["status"] in REFITTABLE and r["best_epoch"] > 0]
    if not rows:
        raise ConfigError(f"search '{exp.name}' has no trial with a finite validation score "
                          "to refit")
    chosen = [_config(row, f"top{rank}", TOP) for rank, row in enumerate(rows[:top], 1)]
    if len(chosen) < top:
        print(f"only {len(chosen)} trials can be refit (asked for the top {top})")
    if not presets:
        return chosen
    options = doc["options"]
    space = load_space(options["space"], width=options["width"],
                       fixed=parse_fixes(options["fix"]))
    for name, point in space.named_points().items():
        row = next((r for r in rows if _contains(r["config"], point)), None)
        if row is None:
            continue
        same = next((c for c in chosen if c["trial_id"] == row["trial_id"]), None)
        if same is not None:
            same["preset"] = name
        else:
            chosen.append({**_config(row, name, PRESET), "preset": name})
    return chosen


def _config(row: dict[str, Any], key: str, role: str) -> dict[str, Any]:
    return {"key": key, "role": role, "preset": "", "trial": row["trial"],
            "trial_id": row["trial_id"], "source_run_id": row["mlflow_run_id"],
            "config": json.loads(row["config"]), "epochs": int(row["best_epoch"]),
            "val_pearson": row[METRIC]}


def _contains(config_json: str, point: dict[str, Any]) -> bool:
    """Whether a leaderboard row's config (JSON) has every value of `point`."""
    config = json.loads(config_json)
    return all(config.get(k) == v for k, v in point.items())


def make_plan(exp: ExperimentDir, doc: dict[str, Any], opts: RefitOptions) -> dict[str, Any]:
    """The saved plan when there is one (ConfigError when the options ask for another), else a
    new one: configurations, seeds and one member per (configuration, seed)."""
    saved = exp.read_json(REFIT_FILE)
    if saved is not None:
        asked = {"top": opts.top, "seeds": opts.seeds}
        have = {"top": saved["top"], "seeds": len(saved["seeds"])}
        if any(v is not None and v != have[k] for k, v in asked.items()):
            raise ConfigError(
                f"search '{exp.name}' already has a refit with --top {have['top']} --seeds "
                f"{have['seeds']} ({exp.path(REFIT_FILE)}): `prixfixe-search refit {exp.name} "
                f"--resume` continues it; remove {exp.path(REFIT_DIR)}, {exp.path(REFIT_TUNE_DIR)}"
                f" and {exp.path(REFIT_FILE)} to start another")
        return saved
    if opts.resume:
        raise ConfigError(f"search '{exp.name}' has no refit to resume (no {REFIT_FILE} in "
                          f"{exp.where}); start one with `prixfixe-search refit {exp.name}`")
    top, n_seeds = opts.top or DEFAULT_TOP, opts.seeds or DEFAULT_SEEDS
    if top < 1 or n_seeds < 1:
        raise ConfigError("--top and --seeds must be at least 1")
    seed0 = int(doc["options"].get("seed", 0))
    seeds = [seed0 + i for i in range(n_seeds)]
    configs = choose_configs(exp, doc, top, opts.presets)
    members = {member_key(c["key"], s): {REFIT_CONFIG: i, REFIT_SEED: s, "status": "PENDING"}
               for i, c in enumerate(configs) for s in seeds}
    plan = {"top": top, "seeds": seeds, "presets": opts.presets, "configs": configs,
            "members": members, "data_dir": doc["data_dir"], "state": "planned"}
    exp.write_json(REFIT_FILE, plan)
    return plan


def make_tuner(exp: ExperimentDir, doc: dict[str, Any], opts: SearchOptions,
               plan: dict[str, Any]) -> Any:
    """A Tuner over the grid (configuration x seed), or the saved one restored."""
    configs = plan["configs"]
    base = trial_settings(opts, doc, exp.root)
    settings = RefitSettings(
        base=replace(base, marker_dir=str(exp.path(REFIT_DIR)), fail_once=fail_once_from_env()),
        configs=tuple(c["config"] for c in configs), epochs=tuple(c["epochs"] for c in configs))
    trainable = tune.with_resources(tune.with_parameters(refit_trial, settings=settings),
                                    trial_resources(opts, doc))
    path = f"{exp.tune_storage.rstrip('/')}/{REFIT_TUNE_DIR}"
    if tune.Tuner.can_restore(path):
        print(f"continuing the refit of '{exp.name}' from {path}")
        return tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                                  resume_errored=True)
    grid = {REFIT_CONFIG: tune.grid_search(list(range(len(configs)))),
            REFIT_SEED: tune.grid_search(list(plan["seeds"]))}
    run_config = tune.RunConfig(
        name=REFIT_TUNE_DIR, storage_path=exp.tune_storage, verbose=0,
        callbacks=[RefitRecorder(exp)],
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2))
    tune_config = tune.TuneConfig(num_samples=1, max_concurrent_trials=opts.max_concurrent,
                                  reuse_actors=REUSE_ACTORS)
    return tune.Tuner(trainable, param_space=grid, tune_config=tune_config,
                      run_config=run_config)


def collect_models(exp: ExperimentDir, plan: dict[str, Any], results: Any) -> dict[str, Path]:
    """Copy each finished trial's model out of its last checkpoint into the ensemble
    directory's members/ (every configuration is a selection candidate); member key -> model
    directory."""
    configs = plan["configs"]
    models: dict[str, Path] = {}
    for result in results:
        if result.error is not None or result.checkpoint is None:
            continue
        config = configs[int(result.config[REFIT_CONFIG])]
        key = member_key(config["key"], int(result.config[REFIT_SEED]))
        with result.checkpoint.as_directory() as ckpt:
            source = Path(ckpt) / BEST_MODEL_DIR
            if source.is_dir():
                models[key] = copy_dir(source, exp.path(f"{MEMBERS_DIR}/{key}"))
    return models


def write_ensemble(exp: ExperimentDir, doc: dict[str, Any], plan: dict[str, Any],
                   models: dict[str, Path], ridge: Baseline | None) -> Path | None:
    """The ensemble chosen on validation rows (refit_select), recorded in plan[SELECTION];
    without a selection (no search model to judge a configuration by) the mean of the top
    configurations' models, as before selection existed (None when one is missing)."""
    info = {"search": exp.name}
    plan.pop(SELECTION, None)
    if ridge is not None:
        selected = select_refit(exp, plan, models, ridge.model.targets,
                                tuple(doc["options"]["val_folds"]))
        if selected is not None:
            selection, validation = selected
            plan[SELECTION] = selection_record(selection)
            return write_selected(exp, plan, models, selection, ridge, info, validation)
        print("no search model to judge the configurations by on validation rows (Tune's "
              "files gone?): the ensemble is the mean of the top configurations' models")
    top_keys = [member_key(c["key"], s) for c in plan["configs"] if c["role"] == TOP
                for s in plan["seeds"]]
    if any(k not in models for k in top_keys):
        return None
    return save_ensemble(exp.path(ENSEMBLE_DIR), [models[k] for k in top_keys], info)


def refit_search(opts: RefitOptions) -> dict[str, Any]:
    """Plan (or continue) the refit, run its trials, select and write the ensemble, score on
    test."""
    exp = finished_search(opts.storage, opts.name)
    doc = exp.search()
    saved = doc["options"]
    search_opts = SearchOptions(**{**saved, "address": opts.address or saved["address"],
                                   "num_cpus": opts.num_cpus or saved.get("num_cpus")})
    load_plugins(search_opts.plugins)
    plan = make_plan(exp, doc, opts)
    exp.write_json(REFIT_FILE, {**plan, "state": "running", "pid": os.getpid()})
    with ray_session(search_opts.address, search_opts.num_cpus):
        results = make_tuner(exp, doc, search_opts, plan).fit()
    plan = exp.read_json(REFIT_FILE)
    models = collect_models(exp, plan, results)
    ridge = refit_ridge(plan, models)
    ensemble = write_ensemble(exp, doc, plan, models, ridge)
    missing = sorted(k for k in plan["members"] if k not in models)
    summary = evaluate_refit(exp, doc, plan, models, ensemble, ridge)
    plan.update(state="finished" if not missing else "incomplete", missing=missing)
    exp.write_json(REFIT_FILE, plan)
    exp.push(REFIT_DIR)
    if missing:
        print(f"{len(missing)} refit trial(s) failed: {', '.join(missing)}; "
              f"`prixfixe-search refit {exp.name} --resume` retries them")
    return {**summary, "missing": missing, "ensemble": str(ensemble) if ensemble else None}


def refit_ridge(plan: dict[str, Any], models: dict[str, Path]) -> Baseline | None:
    """The k-mer ridge on the rows the refit trained on (train + val), for the models' targets:
    an ensemble candidate and the test table's baseline (None: no refit model finished)."""
    if not models:
        return None
    targets = load_predictor(next(iter(models.values())), device="cpu").targets
    return fit_baseline(plan["data_dir"], targets, part=FIT)


