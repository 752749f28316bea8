"""Vectorized sequence encodings straight from Arrow string buffers (docs/ARCHITECTURE.md §1).

No per-character Python: each function views the string array's byte buffer and offsets, maps
bytes to codes with a 256-entry lookup table and gathers fixed-length windows with numpy index
arithmetic. Codes: A=0, C=1, G=2, T=3, N=4, M=5 (mask token); lower case is accepted and any
other byte maps to N.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.schema import ALPHABET, as_string_array, string_buffers

A, C, G, T, N, M = range(6)
CODE_CHARS = ALPHABET + "M"  # the letter of each code, in code order (M: the mask token)
Seqs = pa.Array | pa.ChunkedArray | list[str]

LUT = np.full(256, N, dtype=np.uint8)
for _i, _ch in enumerate(CODE_CHARS):
    LUT[ord(_ch)] = _i
    LUT[ord(_ch.lower())] = _i
# BHI's random vector padding: only 3' when a first draw < 0.333, else only 5' when a second
# draw > 0.666, else both sides (as probabilities of one draw).
VECTOR_PAD_3P = 0.333
VECTOR_PAD_5P = (1 - 0.333) * (1 - 0.666)
COMPLEMENT = np.array([T, G, C, A, N, M], dtype=np.uint8)


def _window(seqs: pa.Array, length: int, *, start: np.ndarray | int = 0,
            avail: np.ndarray | None = None, pad_left: np.ndarray | int = 0,
            fill: int = N, left: str = "", right: str = "") -> np.ndarray:
    """Core gather, one fancy index per call: for row b and output position j, with
    p = j - pad_left[b]: the code of seq b at ``start[b] + p`` if 0 <= p < avail[b]; else the
    end of ``left`` (p < 0) or the start of ``right`` (p >= avail[b]) where they reach; else
    ``fill``."""
    data, offsets = string_buffers(seqs)
    n = len(offsets) - 1
    start = np.broadcast_to(np.asarray(start, np.int64), (n,))
    pad_left = np.broadcast_to(np.asarray(pad_left, np.int64), (n,))
    if avail is None:
        avail = np.maximum(np.diff(offsets) - start, 0)
    flanks = np.frombuffer((left + right).encode(), np.uint8)
    src = np.concatenate([flanks, data[offsets[0]: offsets[-1]]])
    itype = np.int32 if len(src) + length < 2**31 else np.int64
    cols = np.arange(length, dtype=itype)[None, :]
    seq_end = (pad_left + avail)[:, None].astype(itype)
    base = (len(flanks) - offsets[0]) + offsets[:-1] + start - pad_left
    idx = base.astype(itype)[:, None] + cols
    pl = pad_left.astype(itype)[:, None]
    valid = (cols >= pl) & (cols < seq_end)
    if left:
        in_left = (cols < pl) & (cols >= pl - len(left))
        idx = np.where(in_left, (len(left) - pl) + cols, idx)
        valid |= in_left
    if right:
        in_right = (cols >= seq_end) & (cols < seq_end + len(right))
        idx = np.where(in_right, len(left) - seq_end + cols, idx)
        valid |= in_right
    if len(src) == 0:
        return np.full((n, length), fill, np.uint8)
    codes = LUT[np.take(src, idx, mode="clip")]
    return np.where(valid, codes, np.uint8(fill))


def to_codes(seqs: Seqs, length: int, *, align: str = "left", fill: int = N) -> np.ndarray:
    """uint8 (B, length) codes. ``align``: "left" (trim right / pad right), "right" (keep the
    3' end: trim left / pad left) or "center" (trim or pad both sides, extra on the 3' side)."""
    seqs = as_string_array(seqs)
    lengths = np.diff(string_buffers(seqs)[1])
    excess = lengths - length
    if align == "left":
        start, pad = 0, 0
    elif align == "right":
        start, pad = np.maximum(excess, 0), np.maximum(-excess, 0)
    elif align == "center":
        start, pad = np.maximum(excess, 0) // 2, np.maximum(-excess, 0) // 2
    else:
        raise ValueError(f"align must be left, right or center, got {align!r}")
    return _window(seqs, length, start=start, pad_left=pad, fill=fill)


def plasmid_pad(seqs: Seqs, left_flank: str, *, length: int = 150,
                strip_left: int = 17) -> np.ndarray:
    """LegNet encoding: drop the first ``strip_left`` bases, 5'-pad with the last ``length - len``
    bases of ``left_flank`` (which ends with the left adapter), trim on the right if too long."""
    seqs = as_string_array(seqs)
    lengths = np.diff(string_buffers(seqs)[1])
    used = np.clip(lengths - strip_left, 0, length)
    pad = length - used
    if int(pad.max(initial=0)) > len(left_flank):
        raise ValueError(f"left_flank has {len(left_flank)} bp, need {int(pad.max())}")
    return _window(seqs, length, start=strip_left, avail=used, pad_left=pad, left=left_flank)


def vector_pad(seqs: Seqs, left_flank: str, right_flank: str, *, length: int = 110,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """BHI encoding: trim on the right if longer than ``length``; pad shorter sequences with
    vector sequence (the end of ``left_flank`` 5', the start of ``right_flank`` 3'). With ``rng``
    each short sequence is padded only 3' (p = 0.333), only 5' (0.667 x 0.334) or on both sides
    (the rest), as BHI drew it; both sides and no ``rng`` split evenly (the extra base 3')."""
    seqs = as_string_array(seqs)
    lengths = np.diff(string_buffers(seqs)[1])
    used = np.minimum(lengths, length)
    short = length - used
    pad = short // 2
    if rng is not None:
        draw = rng.random(len(short))
        pad = np.select([draw < VECTOR_PAD_3P, draw < VECTOR_PAD_3P + VECTOR_PAD_5P],
                        [np.zeros_like(short), short], pad)
    return _window(seqs, length, avail=used, pad_left=pad, left=left_flank, right=right_flank)


def unlock_tokens(seqs: Seqs, *, strip_left: int = 17, strip_right: int = 13,
                  length: int = 100) -> np.ndarray:
    """Unlock_DNA tokens: drop both adapters, centre in ``length`` N-padded positions (the extra
    N 3', as Python's ``str.center`` does for an even width) or trim on the right, then append
    the reverse complement of that window -> uint8 (B, 2 * length)."""
    seqs = as_string_array(seqs)
    lengths = np.diff(string_buffers(seqs)[1])
    avail = np.clip(lengths - strip_left - strip_right, 0, length)
    fwd = _window(seqs, length, start=strip_left, avail=avail, pad_left=(length - avail) // 2)
    return np.concatenate([fwd, reverse_complement(fwd)], axis=1)


def one_hot(codes: np.ndarray, *, n_value: float = 0.0) -> np.ndarray:
    """float32 (B, 4, L) one-hot of codes; N -> ``n_value`` in all 4 channels, M -> 0."""
    table = np.zeros((6, 4), np.float32)
    table[:4] = np.eye(4, dtype=np.float32)
    table[N] = n_value
    out = np.empty((codes.shape[0], 4, codes.shape[1]), np.float32)
    for ch in range(4):
        out[:, ch, :] = table[:, ch][codes]
    return out


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """uint8 reverse complement along the last axis (A<->T, C<->G; N and M kept)."""
    return np.ascontiguousarray(COMPLEMENT[codes][..., ::-1])


def with_constant_channels(x: np.ndarray, *values: float | np.ndarray) -> np.ndarray:
    """Append one constant channel per value (a scalar or a (B,) array) -> float32 (B, C+k, L)."""
    b, c, length = x.shape
    out = np.empty((b, c + len(values), length), np.float32)
    out[:, :c] = x
    for i, value in enumerate(values):
        v = np.asarray(value, np.float32)
        out[:, c + i, :] = v[:, None] if v.ndim == 1 else v
    return out
