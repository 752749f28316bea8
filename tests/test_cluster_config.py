"""ray_cluster.yaml: valid for Ray's own launcher schema, GPU workers, nothing public (the
MLflow server on the head's loopback, no VPC-wide rule)."""

from __future__ import annotations

import re
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
    assert config["provider"]["use_internal_ips"] is True


def test_mlflow_server_listens_on_the_heads_loopback_only(config: dict[str, Any]) -> None:
    """The tracking server has no authentication: only processes on the head may reach it."""
    servers = [cmd for cmd in config["head_start_ray_commands"] if "mlflow server" in cmd]
    assert len(servers) == 1
    hosts = re.findall(r"--host[= ](\S+)", servers[0])
    assert hosts == ["127.0.0.1"], hosts  # not 0.0.0.0, not the head's VPC address
    assert "--port 5000" in servers[0]


def test_security_group_opens_only_ssh_to_address_ranges(config: dict[str, Any]) -> None:
    """Ray's launcher adds all traffic between the group's members; the config adds SSH and
    nothing else reachable from an address range (no VPC-wide rule that would expose Ray's
    or MLflow's ports)."""
    perms = config["provider"]["security_group"]["IpPermissions"]
    ranged = [p for p in perms if p.get("IpRanges") or p.get("Ipv6Ranges")]
    assert ranged and all((p["IpProtocol"], p.get("FromPort"), p.get("ToPort")) == ("tcp", 22, 22)
                          for p in ranged), ranged
    assert "0.0.0.0/0" not in [ip["CidrIp"] for p in ranged for ip in p["IpRanges"]]


def test_search_docs_say_how_to_reach_the_mlflow_ui() -> None:
    docs = (REPO / "docs" / "SEARCH.md").read_text()
    assert "ray attach ray_cluster.yaml --port-forward 5000" in docs
    assert "--tracking-uri http://127.0.0.1:5000" in docs


def test_readme_documents_cluster_launch() -> None:
    readme = Path(REPO / "README.md").read_text()
    assert "ray up ray_cluster.yaml" in readme
    assert "ray job submit --working-dir ." in readme and "--address auto" in readme
