"""The shape of what an encoding feeds the first block and what flows between blocks.

One type for both, so that an encoding's output is a block's input without translation.
"""

from __future__ import annotations

from dataclasses import dataclass

FEATURES, TOKENS, VECTOR = "features", "tokens", "vector"


@dataclass(frozen=True)
class Shape:
    """A batch's shape (the batch dimension left out).

    kind "features": float (B, channels, length); "tokens": int64 (B, length), `channels` = vocab
    (A C G T N M = 6); "vector": float (B, channels) (a final block's raw outputs). The first
    `n_pseudo` positions of a feature map are pseudo-expression tokens (a token head reads its
    prediction from them); an encoding makes none.
    """

    kind: str
    channels: int
    length: int
    n_pseudo: int = 0

    def describe(self) -> str:
        """Human-readable form for error messages."""
        if self.kind == TOKENS:
            return f"tokens (vocab {self.channels}, length {self.length})"
        if self.kind == VECTOR:
            return f"vector ({self.channels})"
        pseudo = f", {self.n_pseudo} pseudo tokens" if self.n_pseudo else ""
        return f"features ({self.channels}, {self.length}{pseudo})"
