"""Tiny block widths for tests: a block's registry `tiny` params (a whole spec at tiny width is
`presets.with_width(spec, "tiny")`)."""

from __future__ import annotations

from typing import Any

from prixfixe_blocks.blocks.registry import width_params


def tiny_params(role: str, name: str) -> dict[str, Any]:
    """A block's params at the tiny width (those that differ from its defaults)."""
    return width_params(role, name, "tiny")
