"""What a search will cost, said before it starts (`run` prints it; `run --dry-run` only it).

A few configurations are sampled from the space (the DREAM presets first, as the searcher
tries them); each distinct model (by parameter count) is built on the real data and a few
training steps and one prediction batch are timed on this machine, with the threads and the
device a trial gets. The time per sequence is then scaled by each trial's plan (epochs x
sequences, plus validation on both strands, plus building the trial), by the epochs a trial
runs on average under ASHA, by the trial count, and divided by the trials that run at once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import torch

from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.data.format.splits import TRAIN, VAL, select_rows
from prixfixe_blocks.data.read.parts import part_rows
from prixfixe_blocks.training.model import build_model, torch_threads
from prixfixe_blocks.training.plan import TrainPlan, format_duration, format_rate, make_plan
from prixfixe_blocks.training.trainer import Trainer
from search.study.searcher import ASHA_REDUCTION, first_rung
from spaces import config_to_spec, sample_configs

ESTIMATE_SAMPLES = 4  # configurations sampled from the space for the estimate
TIMED_STEPS = 2  # timed training batches per distinct model (on a GPU after a warm-up one)
# On CPU the time per sequence barely depends on the batch size and the first step costs no
# more than the others: one small batch keeps the timing of a 26M-parameter model under a
# minute on 2 cores.
CPU_TIMING_BATCH = 32  # the dry run's timed batch on CPU (larger batches cost less per sequence)
CPU_RATE_BATCH = 128  # the warm batch whose per-sequence time budgets estimate from (CPU)
CPU_TIMED_STEPS = 1
DAY_S = 86_400.0


@dataclass(frozen=True)
class Resources:
    """CPUs and GPUs a search can use, and where they were found."""

    cpus: float
    gpus: float
    where: str


def local_resources(num_cpus: int | None) -> Resources:
    """This machine's CPUs (or `num_cpus`) and CUDA GPUs, without starting Ray."""
    return Resources(float(num_cpus or os.cpu_count() or 1), float(torch.cuda.device_count()),
                     "this machine")


def cluster_resources() -> Resources:
    """The connected Ray cluster's CPUs and GPUs."""
    import ray

    found = ray.cluster_resources()
    return Resources(float(found.get("CPU", 0)), float(found.get("GPU", 0)), "the Ray cluster")


def planned_resources(cpus_per_trial: float, gpus_per_trial: float | None,
                      gpus: float) -> dict[str, float]:
    """One trial's resources as planned before search.json exists: the given ones; GPUs
    default to 1 when the cluster has any, else 0 (tuner.trial_resources reads them back)."""
    if gpus_per_trial is None:
        gpus_per_trial = 1.0 if gpus > 0 else 0.0
    return {"cpu": float(cpus_per_trial), "gpu": float(gpus_per_trial)}


def parallel_trials(trials: int, per_trial: dict[str, float], found: Resources,
                    max_concurrent: int | None) -> int:
    """How many trials run at once: bounded by CPUs, GPUs, --max-concurrent and the count."""
    limits = [trials, max_concurrent or trials]
    if per_trial["cpu"] > 0:
        limits.append(int(found.cpus // per_trial["cpu"]))
    if per_trial["gpu"] > 0:
        limits.append(int(found.gpus // per_trial["gpu"]))
    return max(1, min(limits))


def asha_rungs(epochs: int, grace: int, reduction: int) -> list[int]:
    """ASHA's rungs (the epochs where trials may be stopped): grace x reduction^k < epochs."""
    rungs, rung = [], grace
    while rung < epochs:
        rungs.append(rung)
        rung *= reduction
    return rungs


def expected_epochs(epochs: int, rungs: list[int], reduction: int) -> float:
    """Epochs a trial runs on average when each rung keeps 1/reduction of the trials."""
    if not rungs:
        return float(epochs)
    bounds = [*rungs, epochs]
    total, kept = float(bounds[0]), 1.0
    for low, high in zip(bounds, bounds[1:], strict=False):
        kept /= reduction
        total += kept * (high - low)
    return total


@dataclass(frozen=True)
class TimedModel:
    """One distinct model's plan and measured costs (seconds per sequence; build seconds)."""

    config: dict[str, Any]
    n_parameters: int
    plan: TrainPlan
    train_s: float
    predict_s: float
    build_s: float

    def trial_seconds(self, epochs: float, val_rows: int) -> float:
        """A trial of this model over `epochs` epochs (training, validation, building)."""
        per_epoch = self.plan.sequences * self.train_s + val_rows * self.predict_s
        return self.build_s + epochs * per_epoch


@dataclass(frozen=True)
class Estimate:
    """The search's expected and longest duration, from its timed models."""

    models: list[TimedModel]
    trials: int
    parallel: int
    epochs: int
    mean_epochs: float
    val_rows: int
    device: str

    def seconds(self, epochs: float) -> float:
        """Wall time when every trial runs `epochs` epochs (mean over the timed models)."""
        per_trial = sum(m.trial_seconds(epochs, self.val_rows) for m in self.models)
        return per_trial / len(self.models) * self.trials / self.parallel

    @property
    def expected_s(self) -> float:
        return self.seconds(self.mean_epochs)

    @property
    def longest_s(self) -> float:
        return self.seconds(float(self.epochs))

    def lines(self) -> list[str]:
        """The per-model plans and the totals, for printing."""
        out = []
        for m in self.models:
            out.append(f"  {m.n_parameters:>11,} parameters, batch {m.plan.batch_size}: "
                       f"{format_rate(1 / max(m.train_s, 1e-12))} training on {self.device}; "
                       f"{format_duration(m.trial_seconds(self.epochs, self.val_rows))} for "
                       f"{self.epochs} epochs")
        stopping = (f" (ASHA: {self.mean_epochs:.1f} of {self.epochs} epochs per trial on "
                    f"average)" if self.mean_epochs < self.epochs else "")
        out.append(f"estimate: about {format_duration(self.expected_s)} for {self.trials} trials"
                   f", {self.parallel} at a time{stopping}; at most "
                   f"{format_duration(self.longest_s)} if every trial runs all epochs")
        return out

    def warnings(self, time_budget: float | None) -> list[str]:
        """Warnings when the expected time exceeds --time-budget or a day."""
        found = []
        if time_budget is not None and self.expected_s > time_budget:
            found.append(f"warning: the estimate ({format_duration(self.expected_s)}) exceeds "
                         f"--time-budget ({format_duration(time_budget)}): the search will stop "
                         "before all trials finish")
        if self.expected_s > DAY_S:
            found.append(f"warning: the estimate ({format_duration(self.expected_s)}) is more "
                         "than a day; consider --width small/tiny, fewer --trials or --epochs, "
                         "or a GPU")
        return found


def row_counts(data: str, val_folds: tuple[int, ...] | list[int]) -> tuple[int, int]:
    """(training rows, validation rows) as trials select them (splits, else hash folds)."""
    return part_rows(data, TRAIN, val_folds), part_rows(data, VAL, val_folds)


def time_model(spec: Any, data_dir: str, val_folds: tuple[int, ...], seed: int,
               device: str, threads: int, batch: int | None = None,
               warmup: bool | None = None, steps: int | None = None) -> tuple[float, float, float]:
    """(train s/sequence, predict s/sequence, build s) of a spec, timed on the real data (at
    `batch` when given, else the spec's, at most CPU_TIMING_BATCH on CPU; after one untimed
    batch if `warmup`, by default on a GPU only)."""
    gpu = device != "cpu"
    steps = steps or (TIMED_STEPS if gpu else CPU_TIMED_STEPS)
    if batch is None:
        batch = int(spec.strategy.batch_size)
        if not gpu:
            batch = min(batch, CPU_TIMING_BATCH)
    timed = spec.with_overrides({"strategy.batch_size": batch,
                                 "strategy.batches_per_epoch": steps + 1})
    with torch_threads(threads):
        start = time.perf_counter()
        trainer = Trainer(timed, data_dir, val_folds=val_folds, seed=seed, device=device,
                          log=lambda _msg: None)
        build = time.perf_counter() - start
        train, predict = trainer.time_steps(steps, warmup=gpu if warmup is None else warmup)
    return train, predict, build


def estimate_search(prep: Any, found: Resources) -> Estimate:
    """Time the space's distinct models on this machine and scale them to the whole search."""
    opts = prep.opts
    per_trial = planned_resources(opts.cpus_per_trial, opts.gpus_per_trial, found.gpus)
    device = "cuda" if per_trial["gpu"] > 0 and torch.cuda.is_available() else "cpu"
    configs = sample_configs(prep.space, min(ESTIMATE_SAMPLES, prep.trials), seed=opts.seed,
                             grid=opts.sampler == "grid")
    n_train, n_val = row_counts(opts.data, opts.val_folds)
    timings: dict[int, tuple[float, float, float]] = {}
    models = []
    for config in configs:
        spec = config_to_spec(config, prep.overrides)
        n_parameters = count_parameters(build_model(spec, prep.meta))
        if n_parameters not in timings:
            timings[n_parameters] = time_model(spec, opts.data, tuple(opts.val_folds),
                                               opts.seed, device, int(max(1, per_trial["cpu"])))
        plan = make_plan(n_train, int(spec.strategy.batch_size),
                         spec.strategy.batches_per_epoch, opts.epochs)
        models.append(TimedModel(config, n_parameters, plan, *timings[n_parameters]))
    rungs = (asha_rungs(opts.epochs, first_rung(opts.epochs, opts.grace_period), ASHA_REDUCTION)
             if opts.scheduler == "asha" else [])
    parallel = parallel_trials(prep.trials, per_trial, found, opts.max_concurrent)
    return Estimate(models, prep.trials, parallel, opts.epochs,
                    expected_epochs(opts.epochs, rungs, ASHA_REDUCTION), n_val, device)


def print_plan(prep: Any, found: Resources) -> Estimate:
    """Print the search's plan (space, trials, per-trial plan, resources) and its estimate."""
    opts = prep.opts
    per_trial = planned_resources(opts.cpus_per_trial, opts.gpus_per_trial, found.gpus)
    n_train, n_val = row_counts(opts.data, opts.val_folds)
    fixed = prep.overrides.get("strategy.batches_per_epoch", "published")
    epoch = {None: f"one pass over {n_train:,} training rows",
             "published": "each strategy's published batches per epoch"}.get(
        fixed, f"{fixed} batches")
    scheduler = (f"ASHA, first rung at epoch {first_rung(opts.epochs, opts.grace_period)}"
                 if opts.scheduler == "asha" else "none (every trial runs all epochs)")
    print(f"space: {opts.space} (width {opts.width}), {prep.trials} trials, sampler "
          f"{opts.sampler}, early stopping: {scheduler}")
    print(f"each trial: {opts.epochs} epochs, an epoch = {epoch}; validation on "
          f"{n_val:,} rows ({select_rows(prep.meta, VAL, opts.val_folds).describe()})")
    print(f"resources: {found.cpus:g} CPUs and {found.gpus:g} GPUs on {found.where}; "
          f"{per_trial['cpu']:g} CPU and {per_trial['gpu']:g} GPU per trial")
    print(f"timing training steps of up to {ESTIMATE_SAMPLES} sampled models on this machine "
          f"(on CPU one batch of {CPU_TIMING_BATCH}) ...", flush=True)
    estimate = estimate_search(prep, found)
    for line in [*estimate.lines(), *estimate.warnings(opts.time_budget)]:
        print(line)
    return estimate
