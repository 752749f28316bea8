"""ray_cluster.yaml: valid for Ray's own launcher schema, GPU workers, nothing public."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "ray_cluster.yaml").read_text())


def test_validates_against_ray_launcher_schema(config: dict[str, Any]) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(dict(config))
    validate_config(prepared)  # raises on a schema error ...
    assert set(prepared["available_node_types"]) >= {prepared["head_node_type"]}
    broken = prepare_config({**config, "max_workers": "many"})
    with pytest.raises(Exception, match="max_workers|many"):  # ... and it can fail
        validate_config(broken)


def test_gpu_workers_with_autoscaling_bounds(config: dict[str, Any]) -> None:
    workers = [
        node for name, node in config["available_node_types"].items()
        if name != config["head_node_type"]
    ]
    assert any(node["resources"].get("GPU", 0) >= 1 for node in workers)
    assert all(0 <= node["min_workers"] <= node["max_workers"] for node in workers)
    assert config["max_workers"] >= max(node["max_workers"] for node in workers)


def test_installs_the_package_and_starts_private_services(config: dict[str, Any]) -> None:
    assert any("pip install" in cmd and "prixfixe-search" in cmd
               for cmd in config["setup_commands"])
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert "mlflow server" in head and "--host 0.0.0.0" not in head
    assert "hostname -I" in head  # the head's private address
    assert config["provider"]["use_internal_ips"] is True


def test_security_group_admits_no_public_traffic(config: dict[str, Any]) -> None:
    ranges = [
        ip["CidrIp"]
        for perm in config["provider"]["security_group"]["IpPermissions"]
        for ip in perm["IpRanges"]
    ]
    assert ranges and "0.0.0.0/0" not in ranges


def test_readme_documents_cluster_launch() -> None:
    readme = Path(REPO / "README.md").read_text()
    assert "ray up ray_cluster.yaml" in readme
    assert "ray job submit --working-dir ." in readme and "--address auto" in readme
