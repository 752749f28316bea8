"""One function per subcommand, each calling its handler in this package.

Each imports its module only when called, so that `--help` stays fast and a data command never
pays for importing Ray or torch; the imports are ordinary statements, so import-linter and a
reader see every edge.
"""

from __future__ import annotations

from argparse import Namespace


def data_convert(args: Namespace) -> int:
    from search.commands.data import cli_convert
    return cli_convert(args)


def data_simulate(args: Namespace) -> int:
    from search.commands.data import cli_simulate
    return cli_simulate(args)


def data_split(args: Namespace) -> int:
    from search.commands.data import cli_split
    return cli_split(args)


def data_info(args: Namespace) -> int:
    from search.commands.data import cli_info
    return cli_info(args)


def train(args: Namespace) -> int:
    from search.commands.train import cli_train
    return cli_train(args)


def predict(args: Namespace) -> int:
    from search.commands.train import cli_predict
    return cli_predict(args)


def presets(args: Namespace) -> int:
    from search.commands.train import cli_presets
    return cli_presets(args)


def run(args: Namespace) -> int:
    from search.commands.search import cli_run
    return cli_run(args)


def resume(args: Namespace) -> int:
    from search.commands.search import cli_resume
    return cli_resume(args)


def status(args: Namespace) -> int:
    from search.commands.status import cli_status
    return cli_status(args)


def refit(args: Namespace) -> int:
    from search.commands.refit import cli_refit
    return cli_refit(args)


def report(args: Namespace) -> int:
    from search.commands.report import cli_report
    return cli_report(args)


def evaluate(args: Namespace) -> int:
    from search.commands.evaluate import cli_evaluate
    return cli_evaluate(args)


def demo(args: Namespace) -> int:
    from search.commands.demo import cli_demo
    return cli_demo(args)
