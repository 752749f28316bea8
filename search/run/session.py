"""The Ray session a search or a refit runs in."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from search.trial.oom import handle_killed_workers


class ray_session:  # noqa: N801 (used as a context manager, reads like a function)
    """ray.init for the search (an existing cluster, or embedded) and shutdown after."""

    def __init__(self, address: str | None, num_cpus: int | None) -> None:
        self.address, self.num_cpus = address, num_cpus

    def __enter__(self) -> None:
        # Snapshot Tune's experiment state every second (default: every >= 10 s): a driver
        # lost later re-runs at most the last second's work, not finished trials' last epoch.
        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
        for name in ("ray.tune", "ray.train", "ray.air"):
            logging.getLogger(name).setLevel(logging.WARNING)
        handle_killed_workers()  # a trial killed for memory fails; the search goes on
        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False,
                     log_to_driver=False)

    def __exit__(self, *exc: Any) -> None:
        ray.shutdown()


