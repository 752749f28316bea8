"""Shared fixtures: the real samples in ../shared/data (CI always has them) and small datasets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_support import MotoS3

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real DREAM / Drosophila / human samples beside the checkout."""
    assert SHARED_DATA.is_dir(), f"expected the shared samples at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def plasmid_path(shared_data: Path) -> Path:
    return shared_data / "dream" / "plasmid.json"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3]:
    """A real S3-compatible server (moto, with credentials enforced) for the whole session."""
    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoS3:
    """The S3 server, with this process's environment pointed at it and a private shard cache."""
    for key, value in s3_server.env(PRIXFIXE_CACHE=str(tmp_path / "cache")).items():
        monkeypatch.setenv(key, value)
    return s3_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a `slow` test run first, in collection order otherwise: under
    `-n 2 --dist loadfile` (bootstrap.sh) the long end-to-end files start at once and the short
    files fill in around them, instead of one long file ending the run on one worker alone."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: order inside a file is kept
