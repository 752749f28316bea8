"""Data that changes under a running search stops it: exit 2 with a clear error, the trials
after the change never train on the new data."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from prixfixe_blocks.data.simulate.simulator import simulate
from search.cli import main
from search.experiment import CLOCK_FILE
from tests.conftest import REPO
from tests.s3_support import MotoS3
from tests.search_support import (
    QUICK,
    clean_env,
    cli_command,
    kill_pids,
    pids_mentioning,
    read_trials,
    wait_for,
)

TRIALS = 4


@pytest.mark.slow
def test_data_changed_mid_search_stops_it(tmp_path: Path) -> None:
    data, storage = tmp_path / "data", tmp_path / "runs"
    simulate(data, 1500, seed=0, test_rows=10)
    ray_tmp = tempfile.mkdtemp(prefix="pfd-", dir="/tmp")
    args = ["run", "--data", str(data), "--name", "guard", "--storage", str(storage),
            "--trials", str(TRIALS), "--epochs", "2", "--scheduler", "none",
            "--max-concurrent", "1", *QUICK, "--batches-per-epoch", "20"]
    driver = subprocess.Popen(cli_command(*args), cwd=REPO, env=clean_env(RAY_TMPDIR=ray_tmp),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(r["status"] == "RUNNING" for r in
                             read_trials(storage / "guard").values()), 240, "the first trial")
        simulate(data, 1500, seed=1, test_rows=10, overwrite=True)  # re-simulated in place
        out, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
        kill_pids(pids_mentioning(ray_tmp))
    assert driver.returncode == 2, out[-2000:] + err[-2000:]
    assert "dataset changed since the search started" in err
    assert "stopping the search" in out
    records = read_trials(storage / "guard")
    assert len(records) < TRIALS  # halted: no further trials were started
    assert any("dataset changed" in r.get("last_error", "") for r in records.values())
    halted = json.loads((storage / "guard" / CLOCK_FILE).read_text())["halted"]
    assert "dataset changed" in halted  # where the recorder reads why other trials stopped


def test_run_with_refused_credentials_writes_nothing(
        s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    uri = s3.uri("guard/data")
    simulate(uri, 400, seed=0, test_rows=10, shard_rows=200)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    storage = tmp_path / "runs"
    assert main(["run", "--data", uri, "--name", "denied", "--storage", str(storage)]) == 2
    err = capsys.readouterr().err
    assert "guard/data" in err and "access denied" in err
    assert not storage.exists()
