"""The `prixfixe-search` command: the argument parser and the dispatch to a subcommand's
handler (search/commands/), with user errors turned into a message and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from prixfixe_blocks.errors import PrixFixeError
from search.commands.arguments import add_data, add_evaluate, add_search, add_train_predict


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="prixfixe-search",
        description="Search over Prix Fixe sequence-to-expression model blocks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data(sub)
    add_train_predict(sub)
    add_search(sub)
    add_evaluate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PrixFixeError as err:
        print(f"prixfixe-search: error: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print("prixfixe-search: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
