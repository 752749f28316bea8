"""A worker killed for memory fails its trial (retried like a lost worker), never the driver,
and the trial's error says so in words a user can act on."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ray.air.execution._internal.actor_manager import RayActorManager
from ray.exceptions import OutOfMemoryError, RayActorError

from search.commands.search import exit_code
from search.record.base import trial_error
from search.trial.oom import handle_killed_workers, oom_reason

RAY_MESSAGE = (
    "Task was killed due to the node running low on memory.\nMemory on the node (IP: 10.0.0.1, "
    "ID: abc) where the task (actor ID: 1f2e, name=ImplicitFunc.__init__, pid=4242, memory "
    "used=13.21GB) was running was 22.95GB / 24.00GB (0.956), which exceeds the memory usage "
    "threshold of 0.95.")


def test_a_worker_killed_for_memory_is_handled_as_a_lost_worker() -> None:
    handle_killed_workers()
    handle_killed_workers()  # idempotent: one wrapper
    seen: list[Any] = []
    actor = SimpleNamespace(actor_id="a1", _on_error=lambda _a, exc: seen.append(("actor", exc)))
    task = SimpleNamespace(_tracked_actor=actor,
                           _on_error=lambda _a, exc: seen.append(("task", exc)))
    manager = SimpleNamespace(_failed_actor_ids=set(), _cleanup_actor=lambda tracked_actor: None)
    RayActorManager._actor_task_failed(manager, task, OutOfMemoryError(RAY_MESSAGE))
    assert [kind for kind, _ in seen] == ["actor", "task"]  # Tune's lost-worker path
    assert all(isinstance(exc, RayActorError) and "running low on memory" in str(exc)
               for _, exc in seen)
    assert manager._failed_actor_ids == {"a1"}


def test_the_trial_error_of_an_oom_kill_names_the_peak_and_what_to_try(tmp_path: Path) -> None:
    error_file = tmp_path / "error.txt"
    error_file.write_text(f"Failure # 1 (occurred at 2026-12-05)\n{RAY_MESSAGE}\n")
    said = trial_error(SimpleNamespace(error_file=str(error_file)))
    assert said.startswith("out of memory (peak ~13.2 GB; try a smaller width, batch or fewer")
    assert oom_reason("ValueError: something else") is None


def test_a_search_without_a_model_exits_1_and_says_why(capsys: pytest.CaptureFixture) -> None:
    """Every trial killed for memory (or failed): exit 1 with a line on stderr, not silence."""
    assert exit_code({"best": None, "counts": {"FAILED": 2}}) == 1
    assert "no best model" in capsys.readouterr().err
    assert exit_code({"best": {"trial_id": "t1"}}) == 0
    assert capsys.readouterr().err == ""
