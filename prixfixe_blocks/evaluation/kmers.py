"""K-mer count features (k = 1..6) and the sums a least-squares fit on them needs.

Features: the count of every k-mer for k = 1..MAX_K, ordered by k, then by the k-mer's base-4
code (first base most significant): 4 + 16 + ... + 4096 = 5460 columns. A k-mer containing N
(or the padding past a sequence's end) is not counted.

No dense rows x 5460 matrix is built. A row is its *occurrences*: the feature column of the
k-mer starting at each position (SINK where there is none), so column sums, X^T y and
predictions are bincounts and gathers, O(rows x length). For X^T X the prefix structure is
used: the k-mer at position j is the prefix of the 6-mer at j whenever that 6-mer is valid, so
X = X6 P + E, where P adds each 6-mer column into the column of each of its prefixes (a
contiguous block of the code order) and E holds the few occurrences with no valid 6-mer (the
last 5 positions, next to an N). Hence X^T X = P^T (X6^T X6) P + P^T (X6^T E) + (E^T X6) P +
E^T E: the E terms are pair counts within rows (one bincount), P is prefix sums, and X6^T X6 is
either pair counts (L^2 / 2 per row, for short sequences) or a float32 product over 4096
columns instead of 5460. Measured on the 2-core machine (benchmarks/bench_evaluate.py): X^T X
of 10,000 110-bp rows in 1.3 CPU s vs 3.4 CPU s for the dense 5460-column product.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.schema import as_string_array, string_buffers
from prixfixe_blocks.data.read.encode import to_codes

MAX_K = 6
OFFSETS = np.cumsum([0] + [4**k for k in range(1, MAX_K + 1)])  # first column of each k
N_FEATURES = int(OFFSETS[-1])  # 5460
SINK = N_FEATURES  # the column of "no k-mer here" (dropped)
N_TOP = 4**MAX_K  # 6-mer columns
N_LOW = int(OFFSETS[-2])  # columns of the shorter k-mers (1364); also their sink in E
CHUNK_ROWS = 8192  # rows encoded at a time
GEMM_ROWS = 2048  # rows per float32 X6^T X6 product (exact while counts stay below 2^24)
# X6^T X6 by pair counts while a row has at most this many 6-mer pairs (sequences up to ~135
# bp), else by float32 products: on the 2-core machine counting costs ~20 ns per pair and the
# product ~0.18 ms per row (4096^2 multiply-adds), so they cost the same near 9k pairs.
MAX_ROW_PAIRS = 9_000
PAIR_BUDGET = 1 << 24  # pairs counted per bincount (memory: 8 bytes each)


def encode(sequences: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
    """uint8 codes (B, L) padded with N to the longest sequence (at least MAX_K)."""
    arr = as_string_array(sequences)
    longest = int(np.diff(string_buffers(arr)[1]).max(initial=0))
    return to_codes(arr, max(longest, MAX_K))


def kmer_columns(codes: np.ndarray) -> list[np.ndarray]:
    """Per k = 1..MAX_K: int64 (B, L-k+1), the feature column of the k-mer at each position,
    SINK where it contains N or padding."""
    valid = codes < 4
    base = np.where(valid, codes, 0).astype(np.int64)
    code, ok, out = base, valid, []
    for k in range(1, MAX_K + 1):
        if k > 1:
            code = code[:, :-1] * 4 + base[:, k - 1:]
            ok = ok[:, :-1] & valid[:, k - 1:]
        out.append(np.where(ok, code + OFFSETS[k - 1], SINK))
    return out


def occurrences(codes: np.ndarray) -> np.ndarray:
    """int64 (B, W): every k-mer occurrence of each row as a feature column (SINK: none)."""
    return np.concatenate(kmer_columns(codes), axis=1)


def count_matrix(codes: np.ndarray) -> np.ndarray:
    """Dense float64 (B, N_FEATURES) counts: for checks and small inputs only."""
    occ = occurrences(codes)
    rows = np.repeat(np.arange(len(occ)) * (N_FEATURES + 1), occ.shape[1])
    flat = np.bincount(rows + occ.ravel(), minlength=len(occ) * (N_FEATURES + 1))
    return flat.reshape(len(occ), N_FEATURES + 1)[:, :N_FEATURES].astype(np.float64)


def _prefix_sums(m: np.ndarray, axis: int) -> np.ndarray:
    """P^T m (axis 0) or m P (axis 1) for a 2-D m with N_TOP entries along `axis`: each k block
    sums the 6-mer entries sharing their k-prefix (N_FEATURES entries); k from k + 1."""
    blocks = [m]
    for _ in range(MAX_K - 1):
        longer = blocks[0]
        if axis == 0:
            blocks.insert(0, longer[0::4] + longer[1::4] + longer[2::4] + longer[3::4])
        else:
            blocks.insert(0, longer[:, 0::4] + longer[:, 1::4] + longer[:, 2::4]
                          + longer[:, 3::4])
    return np.concatenate(blocks, axis=axis)


def _pair_counts(a: np.ndarray, b: np.ndarray, size_a: int, size_b: int) -> np.ndarray:
    """int64 (size_a, size_b): sum over rows r of the pairs (a[r, i], b[r, j]) for all i, j."""
    out = np.zeros(size_a * size_b, np.int64)
    step = max(1, PAIR_BUDGET // max(a.shape[1] * b.shape[1], 1))
    for start in range(0, len(a), step):
        keys = a[start: start + step, :, None] * size_b + b[start: start + step, None, :]
        out += np.bincount(keys.ravel(), minlength=size_a * size_b)
    return out.reshape(size_a, size_b)


def _half_pair_counts(a: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`_pair_counts(a, a, size, size)` in half the work: the pairs i < j of each row once
    (C) and the count of each value (the pairs i == j, d); the full counts are C + C^T +
    diag(d) (`_symmetric`)."""
    first, second = np.triu_indices(a.shape[1], k=1)
    out = np.zeros(size * size, np.int64)
    step = max(1, PAIR_BUDGET // max(len(first), 1))
    for start in range(0, len(a), step):
        rows = a[start: start + step]
        out += np.bincount((rows[:, first] * size + rows[:, second]).ravel(),
                           minlength=size * size)
    return out.reshape(size, size), np.bincount(a.ravel(), minlength=size)


def _symmetric(half: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """float64 C + C^T + diag(d) from `_half_pair_counts`."""
    full = half.astype(np.float64)
    full += full.T
    full[np.diag_indices(len(full))] += diag
    return full


def _top_counts(top: np.ndarray) -> np.ndarray:
    """float32 (B, N_TOP) 6-mer counts from 6-mer occurrences (N_TOP: none)."""
    rows = np.arange(len(top))[:, None] * (N_TOP + 1)
    flat = np.bincount((rows + top).ravel(), minlength=len(top) * (N_TOP + 1))
    return flat.reshape(len(top), N_TOP + 1)[:, :N_TOP].astype(np.float32)


class KmerStats:
    """Sufficient statistics of a least-squares fit on k-mer counts, accumulated by chunks:
    rows, column sums, X^T X, X^T y and the sums of y (targets as columns)."""

    def __init__(self, n_targets: int) -> None:
        self.n = 0
        self.sums = np.zeros(N_FEATURES)
        self.xty = np.zeros((N_FEATURES, n_targets))
        self.ysum = np.zeros(n_targets)
        self._top = np.zeros((N_TOP, N_TOP))  # X6^T X6 by products (long sequences)
        self._top_half = np.zeros((N_TOP + 1, N_TOP + 1), np.int64)  # ... by pair counts
        self._top_diag = np.zeros(N_TOP + 1, np.int64)
        self._cross = np.zeros((N_TOP + 1, N_LOW + 1), np.int64)  # X6^T E (+ sinks)
        self._low = np.zeros((N_LOW + 1, N_LOW + 1), np.int64)  # E^T E (+ sink)

    def add(self, codes: np.ndarray, y: np.ndarray) -> None:
        """Add rows (uint8 codes (B, L), targets (B, T))."""
        for start in range(0, len(codes), CHUNK_ROWS):
            self._add(codes[start: start + CHUNK_ROWS], y[start: start + CHUNK_ROWS])

    def _add(self, codes: np.ndarray, y: np.ndarray) -> None:
        cols = kmer_columns(codes)
        occ = np.concatenate(cols, axis=1)
        flat = occ.ravel()
        self.n += len(codes)
        self.sums += np.bincount(flat, minlength=SINK + 1)[:SINK]
        for t in range(y.shape[1]):
            weights = np.repeat(y[:, t].astype(np.float64), occ.shape[1])
            self.xty[:, t] += np.bincount(flat, weights=weights, minlength=SINK + 1)[:SINK]
        self.ysum += y.sum(axis=0)
        top = np.where(cols[-1] == SINK, N_TOP, cols[-1] - OFFSETS[-2])
        low = _without_top(cols)
        if top.shape[1] * (top.shape[1] - 1) // 2 <= MAX_ROW_PAIRS:
            half, diag = _half_pair_counts(top, N_TOP + 1)
            self._top_half += half
            self._top_diag += diag
        else:
            for start in range(0, len(top), GEMM_ROWS):
                x6 = _top_counts(top[start: start + GEMM_ROWS])
                self._top += x6.T @ x6
        self._cross += _pair_counts(top, low, N_TOP + 1, N_LOW + 1)
        self._low += _pair_counts(low, low, N_LOW + 1, N_LOW + 1)

    def merged(self, other: KmerStats) -> KmerStats:
        """The statistics of both sets of rows."""
        out = KmerStats(self.xty.shape[1])
        for name in ("n", "sums", "xty", "ysum", "_top", "_top_half", "_top_diag", "_cross",
                     "_low"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    def gram(self) -> np.ndarray:
        """X^T X, float64 (N_FEATURES, N_FEATURES)."""
        top = self._top + _symmetric(self._top_half[:N_TOP, :N_TOP], self._top_diag[:N_TOP])
        g = _prefix_sums(_prefix_sums(top, axis=1), axis=0)
        cross = _prefix_sums(self._cross[:N_TOP, :N_LOW].astype(np.float64), axis=0)
        g[:, :N_LOW] += cross
        g[:N_LOW, :] += cross.T
        g[:N_LOW, :N_LOW] += self._low[:N_LOW, :N_LOW]
        return g


def _without_top(cols: list[np.ndarray]) -> np.ndarray:
    """E: occurrences of shorter k-mers at positions with no valid 6-mer, as columns in
    0..N_LOW-1, packed to the left of a (B, widest row) array padded with N_LOW (none)."""
    top_ok = cols[-1] != SINK
    parts, keep = [], []
    for col in cols[:-1]:
        covered = np.zeros(col.shape, bool)
        covered[:, : top_ok.shape[1]] = top_ok
        parts.append(col)
        keep.append((col != SINK) & ~covered)
    values, mask = np.concatenate(parts, axis=1), np.concatenate(keep, axis=1)
    rows, where = np.nonzero(mask)
    counts = mask.sum(axis=1)
    rank = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    out = np.full((len(values), max(int(counts.max(initial=0)), 1)), N_LOW, np.int64)
    out[rows, rank] = values[rows, where]
    return out
