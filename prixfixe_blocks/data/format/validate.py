"""Vectorized row validation for the converters: alphabet, empty sequences, finite numbers.

Each check runs on a whole chunk with numpy/Arrow kernels; Python only touches the rows that
fail (to name the bad character or value in the message).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prixfixe_blocks.data.format.schema import ALPHABET, string_buffers

_VALID = np.zeros(256, dtype=bool)
for _ch in ALPHABET:
    _VALID[ord(_ch)] = True


@dataclass(frozen=True)
class RowError:
    """One rejected row: 1-based physical line, the field at fault and why."""

    line: int
    field: str
    message: str
    text: str = ""


def upper_sequences(col: pa.Array) -> pa.Array:
    """ASCII upper-case of a string column (non-ASCII bytes stay and fail the alphabet check)."""
    return pc.ascii_upper(col)


def check_sequences(upper: pa.Array) -> dict[int, str]:
    """Row index -> message for empty sequences and characters outside ACGTN (after upper())."""
    data, offsets = string_buffers(upper)
    lengths = np.diff(offsets)
    bad: dict[int, str] = {int(i): "empty sequence" for i in np.flatnonzero(lengths == 0)}
    body = data[offsets[0]: offsets[-1]]
    wrong = np.flatnonzero(~_VALID[body])
    if len(wrong):
        rows = np.searchsorted(offsets[1:] - offsets[0], wrong, side="right")
        for row in np.unique(rows).tolist():
            seq = upper[row].as_py()
            pos, ch = next((i, c) for i, c in enumerate(seq) if c not in ALPHABET)
            bad[row] = f"invalid base {ch!r} at position {pos + 1} (allowed: {ALPHABET}, any case)"
    return bad


def parse_floats(col: pa.Array) -> tuple[np.ndarray, dict[int, str]]:
    """float64 values of a string column and row index -> message for non-numeric/non-finite."""
    try:
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = _slow_floats(col.to_pylist())
    bad = {}
    for row in np.flatnonzero(~np.isfinite(values)).tolist():
        raw = col[row].as_py()
        bad[row] = f"not a finite number: {raw!r}"
    return values, bad


def _slow_floats(items: list[str | None]) -> np.ndarray:
    """Per-item float parsing, only used for chunks that contain a bad value."""
    out = np.empty(len(items), np.float64)
    for i, item in enumerate(items):
        try:
            out[i] = float(item) if item is not None else np.nan
        except ValueError:
            out[i] = np.nan
    return out


def parse_ints(col: pa.Array, lo: int, hi: int) -> tuple[np.ndarray, dict[int, str]]:
    """int64 values of a string column; row index -> message for non-integers or out of [lo, hi]."""
    values, bad = parse_floats(col)
    ok = np.isfinite(values)
    rounded = np.where(ok, values, 0).round()
    for row in np.flatnonzero(ok & ((rounded != values) | (rounded < lo) | (rounded > hi))):
        bad[int(row)] = f"expected an integer in {lo}..{hi}, got {col[int(row)].as_py()!r}"
    for row in list(bad):
        if bad[row].startswith("not a finite"):
            bad[row] = f"expected an integer in {lo}..{hi}, got {col[row].as_py()!r}"
    return rounded.astype(np.int64), bad


def merge_errors(lines: np.ndarray, per_field: list[tuple[str, dict[int, str]]],
                 texts: list[str] | None = None) -> list[RowError]:
    """First error per row (fields in priority order), sorted by line."""
    first: dict[int, RowError] = {}
    for field, bad in per_field:
        for row, message in bad.items():
            if row not in first:
                text = texts[row] if texts else ""
                first[row] = RowError(int(lines[row]), field, message, text)
    return sorted(first.values(), key=lambda e: e.line)
