"""Sequence codes back to letters, so that tests can compare encodings with strings."""

from __future__ import annotations

import numpy as np

from prixfixe_blocks.data.read.encode import CODE_CHARS

_CHARS = np.frombuffer(CODE_CHARS.encode(), dtype=np.uint8)


def decode(codes: np.ndarray) -> list[str]:
    """Each row of codes (A=0 ... M=5) as a string."""
    return [row.tobytes().decode() for row in _CHARS[codes]]
