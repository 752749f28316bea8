"""ASHA + a SIGKILLed driver: ASHA's stops are kept, the search finishes with the right number
of trials, and --time-budget counts the time of both drivers."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from search.experiment import CLOCK_FILE, SEARCH_FILE, ExperimentDir
from search.run.budget import WRAP_UP_S
from search.run.tune_state import read_tune_state, tune_trials
from tests.conftest import REPO
from tests.search_support import (
    QUICK,
    clean_env,
    cli_command,
    kill_driver,
    kill_pids,
    pids_mentioning,
    read_trials,
    run_cli,
    simulated_data,
    wait_for,
)

TRIALS, EPOCHS, BUDGET = 6, 3, 900


def _saved(root: Path, status: str) -> dict[str, dict]:
    """The records of `status` whose trial is in Tune's saved state (the copy `resume` restores)
    as ended (STOPPED) or not ended (RUNNING)."""
    saved = tune_trials(read_tune_state(ExperimentDir(root)))
    ended = status == "STOPPED"
    return {k: r for k, r in read_trials(root).items() if r["status"] == status
            and k in saved and (saved[k] == "TERMINATED") == ended}


def _clock(root: Path) -> float:
    """The search's running time as last saved (0 before the first save)."""
    path = root / CLOCK_FILE
    return float(json.loads(path.read_text())["elapsed_s"]) if path.is_file() else 0.0


def _ready(root: Path) -> bool:
    """ASHA stopped a trial and another trial runs, both in Tune's saved state."""
    return bool(_saved(root, "STOPPED")) and bool(_saved(root, "RUNNING"))


@pytest.mark.slow
def test_asha_decisions_survive_a_killed_driver(tmp_path_factory: pytest.TempPathFactory,
                                                tmp_path: Path) -> None:
    data = simulated_data(tmp_path_factory)
    storage = tmp_path / "runs"
    root = storage / "asha"
    ray_tmp = tempfile.mkdtemp(prefix="pfa-", dir="/tmp")
    args = ["run", "--data", str(data), "--name", "asha", "--storage", str(storage),
            "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--scheduler", "asha",
            "--max-concurrent", "2", "--time-budget", str(BUDGET), *QUICK,
            "--batches-per-epoch", "12"]
    driver = subprocess.Popen(cli_command(*args), cwd=REPO, env=clean_env(RAY_TMPDIR=ray_tmp),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        wait_for(lambda: _ready(root), 300, "a trial stopped by ASHA", proc=driver)
        wait_for(lambda: _clock(root) > 0, 60, "the search clock saved", proc=driver)
    finally:
        kill_driver(driver, ray_tmp)
    stopped = _saved(root, "STOPPED")  # what Tune restores as ended
    assert stopped and all("stopped by ASHA" in r["stop_reason"] for r in stopped.values())
    used_first = _clock(root)
    assert used_first > 0

    resume_tmp = tempfile.mkdtemp(prefix="pfa-", dir="/tmp")
    try:
        result = run_cli("resume", "asha", "--storage", str(storage),
                         env=clean_env(RAY_TMPDIR=resume_tmp))
    finally:
        kill_pids(pids_mentioning(resume_tmp))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    said = re.search(r"time budget: (\d+) s for the whole search; (\d+) s used before this "
                     r"driver, (\d+) s left", result.stdout)
    # the search's clock: the command's budget less its start-up and the wrap-up reserve
    doc = json.loads((root / SEARCH_FILE).read_text())
    clock = doc["options"]["time_budget"]
    assert doc["time_budget_asked"] == BUDGET and doc["time_budget"] == clock
    assert said and int(said.group(1)) == round(clock) and clock <= BUDGET - WRAP_UP_S
    assert int(said.group(2)) >= int(used_first) - 1
    assert abs(int(said.group(2)) + int(said.group(3)) - clock) <= 1

    after = read_trials(root)
    assert len(after) == TRIALS  # every trial ran, none twice
    assert {r["status"] for r in after.values()} <= {"FINISHED", "STOPPED"}
    for trial_id, record in stopped.items():  # ASHA's stop kept: not restarted
        assert after[trial_id]["status"] == "STOPPED"
        assert after[trial_id]["history"] == record["history"]
    assert sum(r["status"] == "STOPPED" for r in after.values()) >= 1
    assert any(r["epoch"] == EPOCHS for r in after.values())
    total = float(json.loads((root / CLOCK_FILE).read_text())["elapsed_s"])
    assert total > used_first  # the second driver's time was added to the first's
    assert f"search 'asha' done: {TRIALS} trials" in result.stdout
