"""`--storage URI`: our files are mirrored to the URI, Ray Tune writes there, status reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.training.weights import WEIGHTS_FILE
from search.experiment import open_experiment
from tests.search_support import QUICK, clean_env, read_trials, run_cli, simulated_data


@pytest.mark.slow
def test_search_on_a_storage_uri_mirrors_everything_there(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    data = simulated_data(tmp_path_factory)
    bucket, cache = tmp_path / "bucket", tmp_path / "cache"
    env = clean_env(PRIXFIXE_CACHE=str(cache))
    uri = f"file://{bucket}"
    result = run_cli("run", "--data", str(data), "--name", "remote", "--storage", uri,
                     "--trials", "2", "--epochs", "1", "--scheduler", "none", *QUICK, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    remote = bucket / "remote"
    for name in ("search.json", "trials.json", "leaderboard.csv", "curves.png",
                 "optuna.journal", f"best_model/{WEIGHTS_FILE}"):
        assert (remote / name).is_file(), name
    assert any((remote / "tune").glob("train_trial_*/checkpoint_*"))
    records = read_trials(remote)
    assert len(records) == 2 and all(r["mlflow_run_id"] for r in records.values())
    assert str(cache) in result.stdout  # the default MLflow store is local, in the cache

    shutil.rmtree(cache)  # another machine: status reads the URI
    status = run_cli("status", "remote", "--storage", uri, env=env)
    assert status.returncode == 0 and "finished 2, running 0, pending 0" in status.stdout


def test_unknown_storage_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a storage URI pyarrow can open"):
        open_experiment("nosuch://bucket/runs", "x")
