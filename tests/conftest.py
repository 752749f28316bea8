"""Shared fixtures: the real samples in ../shared/data (CI always has them) and small datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

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
