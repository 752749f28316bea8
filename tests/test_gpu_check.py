"""The GPU run book (`benchmarks/gpu_check.py`). Its CPU rehearsal (`--cpu`): one run of the
real command writes one results file in which every section ran to the end with finite
figures, so the script a lent GPU gets a few minutes for is known to work end to end. The parts
only a GPU run reaches (the goal's verdict, time cuts, two trials sharing a GPU) are checked on
made-up results."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from prixfixe_blocks.training.metrics import BEST_METRIC
from tests.conftest import REPO
from tests.search_support import clean_env

SECTIONS = ("setup", "throughput", "epoch", "search")
PRESETS = {"dream-cnn", "dream-rnn", "dream-attn"}
MODES = {"fp32", "bf16", "bf16+channels_last", "bf16+compile"}
LIMIT_S = 600  # generous: a loaded 2-core machine must not turn the rehearsal into cuts


def numbers(value: Any) -> list[float]:
    """Every number in a JSON value (bools are not figures)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    items = value.values() if isinstance(value, dict) else value
    return [n for item in items for n in numbers(item)]


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    """benchmarks/gpu_check.py as a module (benchmarks/ is a folder of scripts)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module("gpu_check")
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess,
                                                                  dict[str, Any]]:
    out = tmp_path_factory.mktemp("gpu-check")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--cpu", "--out", str(out),
         "--limit", str(LIMIT_S)],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=LIMIT_S + 120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert [p.name for p in out.iterdir()] == ["gpu_check.json"]  # one results file
    return proc, json.loads((out / "gpu_check.json").read_text())


@pytest.mark.slow
def test_every_section_ran_with_finite_figures(
        rehearsal: tuple[subprocess.CompletedProcess, dict[str, Any]]) -> None:
    _, doc = rehearsal
    assert doc["mode"] == "cpu" and doc["device"] == "CPU" and doc["torch"]
    assert set(doc["sections"]) == set(SECTIONS)
    for name, section in doc["sections"].items():
        assert section["status"] == "done", (name, section)
        assert numbers(section) and all(math.isfinite(n) for n in numbers(section)), name
        assert 0 < section["seconds"] <= section["budget_s"] + 25, name  # + GRACE_S, reporting

    cells = doc["sections"]["throughput"]["cells"]
    assert {(c["preset"], c["variant"]) for c in cells} == {(p, m) for p in PRESETS
                                                            for m in MODES}
    assert all(c["seqs_per_s"] > 0 and c["peak_memory_mb"] > 0 for c in cells)

    epoch = doc["sections"]["epoch"]
    assert epoch["batches_done"] == epoch["batches_planned"] == 6
    assert epoch["wait_s"] > 0 and epoch["encode_s"] > 0 and epoch["step_s"] > 0
    parts = epoch["wait_s"] + epoch["encode_s"] + epoch["step_s"]
    assert parts == pytest.approx(epoch["wall_s"])
    assert epoch["loader_bound"] == (epoch["wait_s"] + epoch["encode_s"] >= epoch["step_s"])

    search = doc["sections"]["search"]
    assert search["trials_finished"] == search["trials"] == 2
    assert -1 <= search["best_val_pearson"] <= 1 and search["median_trial_seqs_per_s"] > 0


@pytest.mark.slow
def test_goal_and_table_report_the_figures(
        rehearsal: tuple[subprocess.CompletedProcess, dict[str, Any]]) -> None:
    proc, doc = rehearsal
    goal = doc["goal"]
    assert goal["goal"] == "DREAM-CNN >= 60k training sequences/s on one H100/H200"
    assert goal["met"] is None  # a CPU rehearsal does not judge the GPU goal
    best = max((c for c in doc["sections"]["throughput"]["cells"]
                if c["preset"] == "dream-cnn"), key=lambda c: c["seqs_per_s"])
    assert (goal["best_variant"], goal["best_seqs_per_s"]) == (best["variant"],
                                                              best["seqs_per_s"])
    assert "\n".join(doc["table"]) in proc.stdout  # the table printed is the one stored
    assert any(line.startswith("goal: DREAM-CNN >= 60k") for line in doc["table"])
    # the plan and each section's budget come first, before any section ran
    plan = proc.stdout.split("== setup")[0]
    assert all(f"  {name}" in plan for name in SECTIONS)


def test_a_section_stopped_at_its_limit_is_reported_not_dropped(
        gpu_check: ModuleType, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    started = time.monotonic()
    code, seconds = gpu_check.run_bounded(
        ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], 1.0, clean_env())
    assert code is None and 1.0 <= seconds < 30 and time.monotonic() - started < 30
    grandchild = Path(f"/proc/{pid_file.read_text().strip()}")
    for _ in range(50):  # the whole process group is killed, not only the direct child
        if not grandchild.exists() or "Z" in (grandchild / "stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the section's grandchild outlived the kill")

    cells = [{"preset": "dream-cnn", "variant": "fp32", "status": "done", "seqs_per_s": 9e4},
             {"preset": "dream-rnn", "variant": "fp32", "status": "running"}]
    doc = gpu_check.settle("throughput", {"status": "running", "cells": cells}, None, 250)
    assert doc["status"] == "out of time: stopped at 250 s"
    status = {(c["preset"], c["variant"]): c["status"] for c in doc["cells"]}
    assert len(status) == 12 and status[("dream-cnn", "fp32")] == "done"
    assert status[("dream-rnn", "fp32")] == "out of time: stopped at 250 s while running"
    assert sum(s == "out of time: not reached" for s in status.values()) == 10
    failed = gpu_check.settle("epoch", {"status": "running"}, 1, 100)
    assert failed["status"] == "error (exit 1)"


def test_gpu_goal_verdict_and_shared_gpu_summary(gpu_check: ModuleType) -> None:
    def cells(cnn_rate: float) -> dict[str, Any]:
        return {"cells": [
            {"preset": "dream-cnn", "variant": "bf16", "status": "done", "seqs_per_s": 5e4},
            {"preset": "dream-cnn", "variant": "bf16+compile", "status": "done",
             "seqs_per_s": cnn_rate},
            {"preset": "dream-rnn", "variant": "bf16", "status": "done", "seqs_per_s": 9e5},
            {"preset": "dream-cnn", "variant": "fp32", "status": "out of time: not reached"}]}

    met = gpu_check.goal(gpu_check.GPU, cells(61_000))
    assert (met["met"], met["best_variant"], met["best_seqs_per_s"]) == (
        True, "bf16+compile", 61_000)
    assert gpu_check.goal(gpu_check.GPU, cells(59_000))["met"] is False  # rnn's rate not counted
    assert gpu_check.goal(gpu_check.GPU, {"cells": []})["met"] is None  # not measured

    search = importlib.import_module("gpu_search")
    trial = {"status": "FINISHED", "gpu_ids": ["0"], "metrics": {BEST_METRIC: 0.4},
             "history": [{"epoch": 1, "seqs_per_s": 2e4}]}
    records = [{**trial, "started": 0, "updated": 10}, {**trial, "started": 1, "updated": 12},
               {**trial, "started": 11, "updated": 20},
               {**trial, "started": 13, "updated": 21, "status": "STOPPED",
                "stop_reason": "time budget of 80s reached at epoch 1"}]
    summary = search.summarise(records)
    assert summary["max_concurrent"] == 2 and summary["gpu_ids"] == ["0"]
    assert (summary["trials_finished"], summary["trials_stopped"]) == (3, 1)
    assert summary["stop_reasons"] == ["time budget of 80s reached at epoch 1"]
