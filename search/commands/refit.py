"""Handler of `prixfixe-search refit`."""

from __future__ import annotations

import argparse

from search.refit.driver import RefitOptions, refit_search


def cli_refit(args: argparse.Namespace) -> int:
    """Handler of `prixfixe-search refit`."""
    summary = refit_search(RefitOptions(
        name=args.name, storage=args.storage, top=args.top, seeds=args.seeds,
        presets=not args.no_presets, resume=args.resume, address=args.address))
    return 0 if summary["ensemble"] and not summary["missing"] else 1
