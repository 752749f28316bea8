"""A trial's worker killed for memory ends that trial, not the search.

Ray's memory monitor kills a worker when its node runs low on memory; the trial's pending call
then fails with `ray.exceptions.OutOfMemoryError`, which Ray Tune 2.60's actor manager does not
expect (it handles only actor and task errors) and re-raises as `RuntimeError: Caught unexpected
exception`, ending the driver with a traceback. `handle_killed_workers` routes that error the
way Tune handles any lost worker: the trial is retried from its checkpoint (the monitor may have
killed an innocent trial to save the node) and, when its retries are spent, ends FAILED with
`oom_reason`'s message while the other trials go on.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ray.air.execution._internal.actor_manager import RayActorManager
from ray.exceptions import OutOfMemoryError, RayActorError

OOM_TEXT = "running low on memory"  # in every message of Ray's memory monitor
_USED = re.compile(r"memory used=([\d.]+)\s*GB")


def handle_killed_workers() -> None:
    """Make Tune treat a worker killed for memory as a lost worker (idempotent)."""
    original = RayActorManager._actor_task_failed
    if getattr(original, "handles_oom", False):
        return

    @functools.wraps(original)
    def task_failed(self: Any, tracked_actor_task: Any, exception: Exception) -> None:
        if isinstance(exception, OutOfMemoryError):
            exception = RayActorError(error_msg=str(exception))
        original(self, tracked_actor_task, exception)

    task_failed.handles_oom = True  # type: ignore[attr-defined]
    RayActorManager._actor_task_failed = task_failed


def oom_reason(error_text: str) -> str | None:
    """The user's message for a trial whose error text says its worker was killed for memory
    (None for any other error)."""
    if OOM_TEXT not in error_text:
        return None
    used = _USED.findall(error_text)
    peak = f"peak ~{max(float(u) for u in used):.1f} GB; " if used else ""
    return (f"out of memory ({peak}try a smaller width, batch or fewer trials at a time: "
            f"--width, --fix strategy.batch_size=N, --max-concurrent)")
