"""How many GPUs each trial asks for: GPU-first on clusters.

`--gpus-per-trial F` is used as given (0: CPU only; 0.5: two trials share a GPU). Without it:
- a cluster (`--address`) or this machine that has GPUs now: 1 GPU per trial;
- a cluster whose autoscaler can start GPU nodes (its node types, read from the cluster config
  the autoscaler publishes in Ray's GCS, or from the launcher's `~/ray_bootstrap_config.yaml`
  on the head node): 1 GPU per trial, so asking for them is what starts the GPU workers;
- a cluster with no GPU now and an autoscaler that offers none: CPU only;
- a cluster with no GPU now whose autoscaler's node types cannot be read (a plain `ray start`
  cluster reports none): GPUs might be startable, so the search refuses to run on CPUs
  silently and asks for `--gpus-per-trial 0` (or a GPU count) to proceed;
- embedded Ray (no `--address`): this machine's GPUs, if any, else CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
import yaml

from prixfixe_blocks.errors import ConfigError

BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"


def autoscaler_gpus(bootstrap: str | Path = BOOTSTRAP_CONFIG) -> float | None:
    """GPUs the cluster's autoscaler could run at most (None: its node types are unknown)."""
    try:
        from ray._private.state import state  # the only API that exposes the cluster config

        limits = state.get_max_resources_from_cluster_config()
    except Exception:  # noqa: BLE001 (a private API: any failure means "unknown")
        limits = None
    if limits is not None:
        return float(limits.get("GPU", 0) or 0)
    path = Path(bootstrap).expanduser()
    if not path.is_file():
        return None
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return float(sum(_node_type_gpus(node) for node in
                     (config.get("available_node_types") or {}).values()))


def _node_type_gpus(node: dict[str, Any]) -> float:
    gpus = float((node.get("resources") or {}).get("GPU", 0) or 0)
    return gpus * max(int(node.get("max_workers", 1) or 0), 1) if gpus else 0.0


def trial_gpus(requested: float | None, address: str | None) -> float:
    """GPUs per trial (module docstring); call inside a connected Ray session. ConfigError when
    a cluster might start GPUs but nothing says whether to use them."""
    if requested is not None:
        if requested < 0:
            raise ConfigError(f"--gpus-per-trial must be 0 or more, got {requested:g}")
        return float(requested)
    present = float(ray.cluster_resources().get("GPU", 0))
    if present > 0:
        print(f"trials ask for 1 GPU each ({present:g} in the cluster now; "
              "--gpus-per-trial 0.5 shares one between two trials)")
        return 1.0
    if not address:
        return 0.0
    offered = autoscaler_gpus()
    if offered is None:
        raise ConfigError(
            f"the cluster at {address} has no GPU now and its autoscaler's node types cannot be "
            "read, so GPU nodes might be startable: pass --gpus-per-trial 1 (or 0.5) to ask for "
            "GPUs (the autoscaler starts GPU nodes for them), or --gpus-per-trial 0 to run the "
            "trials on CPUs")
    if offered > 0:
        print(f"trials ask for 1 GPU each: no GPU is running yet, the autoscaler can start up "
              f"to {offered:g} (--gpus-per-trial 0 runs on CPUs instead)")
        return 1.0
    print("the cluster has no GPU and its autoscaler offers none: trials run on CPUs")
    return 0.0
