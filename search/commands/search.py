"""Handlers of `prixfixe-search run` and `resume`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prixfixe_blocks.errors import ConfigError
from search.run.budget import check_max_epochs, parse_duration
from search.run.driver import dry_run, resume_search, run_search
from search.run.options import DEFAULT_EPOCHS, DEFAULT_WIDTH, SearchOptions


def options_from_args(args: argparse.Namespace) -> SearchOptions:
    """SearchOptions from the `run` subcommand's arguments (a time budget alone: planned)."""
    budget = parse_duration(args.time_budget) if args.time_budget is not None else None
    planned = budget is not None and args.width is args.epochs is args.trials is None
    if args.max_epochs is not None:
        if not planned:
            raise ConfigError("--max-epochs caps the passes of a planned search: give it with "
                              "--time-budget and without --width, --epochs or --trials")
        check_max_epochs(args.max_epochs)  # before the minute of timing, not after it
    return SearchOptions(
        data=args.data, name=args.name, space=args.space, trials=args.trials,
        epochs=args.epochs or DEFAULT_EPOCHS, sampler=args.sampler, scheduler=args.scheduler,
        max_concurrent=args.max_concurrent, gpus_per_trial=args.gpus_per_trial,
        cpus_per_trial=args.cpus_per_trial, storage=args.storage,
        tracking_uri=args.tracking_uri, seed=args.seed, time_budget=budget,
        address=args.address, fix=list(args.fix), batches_per_epoch=args.batches_per_epoch,
        schedule=args.schedule, grace_period=args.grace_period,
        width=args.width or DEFAULT_WIDTH, budget_plan=planned,
        enqueue_presets=not args.no_enqueue_presets,
        plugins=list(args.plugins), register=args.register, objective=args.objective,
        max_params=args.max_params, max_epochs=args.max_epochs,
    )


def cli_run(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search run` (`--dry-run`: the plan and estimate only)."""
    if args.dry_run:
        return dry_run(options_from_args(args))
    return exit_code(run_search(options_from_args(args)))


def cli_resume(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search resume`."""
    return exit_code(resume_search(args.name, args.storage, args.tracking_uri, args.address))


def exit_code(summary: dict[str, Any]) -> int:
    """0 when the search exported a best model; else 1, saying so on stderr (every trial
    failed or was lost: the table above gives each one's reason)."""
    if summary.get("best"):
        return 0
    print("no trial finished an epoch, so there is no best model: see each trial's reason "
          "above", file=sys.stderr)
    return 1
