"""Simulator throughput: 1M DREAM-like rows end to end, and the k-mer scoring vs a direct one.

Usage: python benchmarks/bench_simulate.py [--rows 1000000] [--score-rows 20000]

Prints rows/s of ``simulate`` (sequences, truth, measurement, folds, Parquet, test suite) and,
on the same sequences in the same process, the PWM scoring of
``prixfixe_blocks.data.simulate.truth`` (two 7-mer table gathers per window) against the direct
vectorized sum over PWM positions (one gather per position and motif strand), checking both
give the same scores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from prixfixe_blocks.data.simulate import truth
from prixfixe_blocks.data.simulate.seqgen import random_codes
from prixfixe_blocks.data.simulate.simulator import simulate


def direct_scores(codes: np.ndarray) -> np.ndarray:
    """Baseline: score[b, j, f] = sum_k BANK[k, codes[b, j + k], f] - best[f], position by
    position (numpy, no k-mer tables)."""
    b, length = codes.shape
    width = truth.BANK.shape[0]
    padded = np.zeros((b, length + width), np.int64)
    padded[:, :length] = np.minimum(codes, 3)
    out = np.zeros((b, length, truth.BANK.shape[2]), np.float32)
    for k in range(width):
        out += truth.BANK[k][padded[:, k: k + length]]
    return out - np.repeat(truth.BEST, 2)[None, None, :]


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--score-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _, secs = timed(simulate, Path(tmp) / "sim", args.rows)
    print(f"simulate {args.rows:,} rows (+ test suite): {secs:6.1f} s "
          f"({args.rows / secs:,.0f} rows/s)")
    codes, lengths = random_codes(np.random.default_rng(0), args.score_rows)
    truth.log_affinity(codes[:256]), direct_scores(codes[:256])  # warm up both
    fast, t_fast = timed(lambda c: np.concatenate(
        [truth.log_affinity(c[i: i + 4096]) for i in range(0, len(c), 4096)]), codes)
    slow, t_slow = timed(lambda c: np.concatenate(
        [direct_scores(c[i: i + 4096]) for i in range(0, len(c), 4096)]), codes)
    assert np.allclose(fast, slow, atol=1e-3), "k-mer tables disagree with the direct sum"
    n = args.score_rows
    print(f"PWM scoring, 7-mer tables: {n / t_fast:12,.0f} seq/s")
    print(f"PWM scoring, direct sum:   {n / t_slow:12,.0f} seq/s")
    print(f"ratio (tables / direct):   {t_slow / t_fast:12.1f}x")
    _, t_truth = timed(truth.expression, codes, lengths)
    print(f"full truth function:       {n / t_truth:12,.0f} seq/s")


if __name__ == "__main__":
    main()
