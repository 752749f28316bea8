"""A search's plan before it starts (first ASHA rung, estimate, --dry-run) and a diverged trial
that errors instead of being scored."""

from __future__ import annotations

import csv
import json
import textwrap

import optuna
import pytest
import ray
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from search.cli import main as cli_main
from search.run.estimate import Resources, asha_rungs, expected_epochs, parallel_trials
from search.study.journal import study_counts
from search.study.searcher import first_rung
from tests.search_support import QUICK, read_trials, run_cli, simulated_data

DIVERGING = '''
"""A plugin target whose loss is NaN: any trial that uses it diverges in its first epoch."""

from torch import Tensor

from prixfixe_blocks.strategies.targets import TARGETS, RegressionTarget


@TARGETS.register("nanloss")
class NaNTarget(RegressionTarget):
    name = "nanloss"

    def regression_loss(self, outputs: Tensor, z: Tensor) -> Tensor:
        return (outputs - z).pow(2).mean() * float("nan")
'''
SPACE = """params:
  first: bhi
  core: autosome
  final: autosome
  strategy.target: {choice: [softbin, nanloss]}
"""


@pytest.mark.parametrize(("epochs", "grace", "rung"), [
    (10, None, 4), (6, None, 3), (20, None, 7), (2, None, 2), (1, None, 1), (10, 2, 2),
    (3, 5, 3),
])
def test_first_rung_comes_after_the_warm_up(epochs: int, grace: int | None, rung: int) -> None:
    assert first_rung(epochs, grace) == rung


def test_expected_epochs_under_asha_and_parallel_trials() -> None:
    assert asha_rungs(10, 4, 3) == [4] and asha_rungs(40, 4, 3) == [4, 12, 36]
    assert expected_epochs(10, [4], 3) == pytest.approx(4 + 6 / 3)
    assert expected_epochs(10, [], 3) == 10
    found = Resources(cpus=8, gpus=2, where="here")
    assert parallel_trials(20, {"cpu": 1, "gpu": 0}, found, None) == 8
    assert parallel_trials(20, {"cpu": 1, "gpu": 1}, found, None) == 2
    assert parallel_trials(20, {"cpu": 1, "gpu": 0}, found, 3) == 3
    assert parallel_trials(2, {"cpu": 1, "gpu": 0}, found, None) == 2


def test_dry_run_prints_the_plan_and_starts_nothing(
        tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture) -> None:
    data = simulated_data(tmp_path_factory)
    storage = tmp_path_factory.mktemp("dry") / "runs"
    code = cli_main(["run", "--data", str(data), "--name", "dry", "--storage", str(storage),
                     "--trials", "9", "--epochs", "6", "--width", "tiny", "--time-budget", "1",
                     "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "9 trials, sampler tpe, early stopping: ASHA, first rung at epoch 3" in out
    assert "an epoch = one pass over" in out and "validation on" in out
    assert "resources:" in out and "on this machine" in out
    assert "estimate: about" in out and "(ASHA: 4.0 of 6 epochs per trial on average)" in out
    assert "exceeds --time-budget" in out and "dry run: no trial started" in out
    assert not storage.exists() and not ray.is_initialized()


@pytest.mark.slow
def test_a_diverged_trial_errors_with_its_reason_and_is_never_ranked(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("diverge")
    (root / "diverging.py").write_text(textwrap.dedent(DIVERGING))
    (root / "space.yaml").write_text(SPACE)
    data = simulated_data(tmp_path_factory)
    result = run_cli("run", "--data", str(data), "--space", str(root / "space.yaml"),
                     "--sampler", "grid", "--name", "nan", "--epochs", "1", "--scheduler",
                     "none", "--storage", str(root / "runs"), "--plugin",
                     str(root / "diverging.py"), "--max-concurrent", "1", *QUICK)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exp = root / "runs" / "nan"
    records = {r["config"]["strategy.target"]: r for r in read_trials(exp).values()}
    assert records["nanloss"]["status"] == "FAILED" and records["nanloss"]["history"] == []
    assert "training diverged at epoch 1: train_loss nan" in records["nanloss"]["last_error"]
    assert records["nanloss"]["retries"] == 0  # deterministic: ended once, never retried
    assert "not retried" in records["nanloss"]["last_error"]
    assert records["softbin"]["status"] == "FINISHED"  # the search went on
    rows = list(csv.DictReader((exp / "leaderboard.csv").open()))
    assert [(r["rank"], json.loads(r["config"])["strategy.target"]) for r in rows] == [
        ("1", "softbin"), ("-", "nanloss")]
    assert json.loads((exp / "best_model" / "spec.json").read_text())[
        "strategy.target"] == "softbin"
    study = optuna.load_study(study_name="nan", storage=JournalStorage(
        JournalFileBackend(str(exp / "optuna.journal"))))
    assert study_counts(study) == {"COMPLETE": 1, "FAIL": 1}
