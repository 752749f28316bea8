"""Random DREAM-like sequences as code matrices, and their conversion to Arrow strings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.schema import ALPHABET, LEFT_ADAPTER, RIGHT_ADAPTER

LENGTHS = np.arange(102, 112)
# Counts of total lengths 102..111 in the real DREAM sample (shared/data/dream/train_sample.txt).
LENGTH_P = np.array([6, 5, 11, 17, 29, 50, 152, 812, 5219, 29], np.float64)
LENGTH_P /= LENGTH_P.sum()
MAX_LEN = int(LENGTHS.max())
LEFT_LEN, RIGHT_LEN = len(LEFT_ADAPTER), len(RIGHT_ADAPTER)
BYTES = np.frombuffer(ALPHABET.encode(), np.uint8)
CODE = np.full(256, 4, np.uint8)
CODE[BYTES[:4]] = np.arange(4)
_LEFT = CODE[np.frombuffer(LEFT_ADAPTER.encode(), np.uint8)]
_RIGHT = CODE[np.frombuffer(RIGHT_ADAPTER.encode(), np.uint8)]


def random_codes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint8 (n, 111) N-padded on the 3' end, lengths) of adapter + random insert."""
    lengths = rng.choice(LENGTHS, size=n, p=LENGTH_P)
    codes = np.full((n, MAX_LEN), 4, np.uint8)
    codes[:, :LEFT_LEN] = _LEFT
    codes[:, LEFT_LEN:] = rng.integers(0, 4, size=(n, MAX_LEN - LEFT_LEN), dtype=np.uint8)
    cols = (lengths - RIGHT_LEN)[:, None] + np.arange(RIGHT_LEN)[None, :]
    codes[np.arange(n)[:, None], cols] = _RIGHT[None, :]
    codes[np.arange(MAX_LEN)[None, :] >= lengths[:, None]] = 4
    return codes, lengths


def to_strings(codes: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """Arrow string array from code rows, built straight into its buffers (no Python loop)."""
    chars = BYTES[codes]
    keep = np.arange(codes.shape[1])[None, :] < lengths[:, None]
    data = np.ascontiguousarray(chars[keep])
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data))
