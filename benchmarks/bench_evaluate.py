"""The k-mer ridge baseline: X^T X by pair counts vs the dense product, and a whole fit.

Usage: python benchmarks/bench_evaluate.py [--rows 30000] [--gram-rows 5000]

Prints, on the same simulated sequences in the same process, the wall and CPU seconds to build
X^T X of the 5460 1- to 6-mer counts with ``kmers.KmerStats`` (pair counts + prefix sums)
against the dense float32 product of the count matrix (checking both agree; the product is
multi-threaded BLAS, so CPU seconds compare the work), then the seconds of ``fit_kmer_ridge``
(statistics, penalty chosen on a hold-out fold, refit) on ``--rows`` rows.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from prixfixe_blocks.data.simulate.simulator import train_chunk
from prixfixe_blocks.evaluation.kmer_ridge import fit_kmer_ridge
from prixfixe_blocks.evaluation.kmers import N_FEATURES, KmerStats, count_matrix, encode
from prixfixe_blocks.training.metrics import pearson


def dense_gram(codes: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Baseline: accumulate X^T X from dense float32 count chunks (one BLAS product each)."""
    out = np.zeros((N_FEATURES, N_FEATURES), np.float64)
    for i in range(0, len(codes), chunk):
        x = count_matrix(codes[i: i + chunk]).astype(np.float32)
        out += x.T @ x
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--gram-rows", type=int, default=5_000)
    args = parser.parse_args()
    table = train_chunk(0, 0, args.rows + 2000)
    seqs, y = table.column("sequence"), table.column("expression").to_numpy()
    codes = encode(seqs.slice(0, args.gram_rows))
    stats = KmerStats(1)
    fast, w_fast, c_fast = timed(lambda: (stats.add(codes, y[: args.gram_rows, None]),
                                          stats.gram())[1])
    slow, w_slow, c_slow = timed(lambda: dense_gram(codes))
    assert np.allclose(fast, slow), "pair counts disagree with the dense product"
    print(f"X^T X of {args.gram_rows:,} rows: pair counts {w_fast:6.2f} s wall {c_fast:6.2f} s "
          f"CPU; dense product {w_slow:6.2f} s wall {c_slow:6.2f} s CPU "
          f"(x{w_slow / w_fast:.1f} wall, x{c_slow / c_fast:.1f} CPU)")
    fold = table.column("fold").to_numpy()[: args.rows]
    model, wall, cpu = timed(lambda: fit_kmer_ridge(seqs.slice(0, args.rows), y[: args.rows],
                                                    fold == 1))
    r = pearson(model.predict(seqs.slice(args.rows))[:, 0], y[args.rows:])
    print(f"fit_kmer_ridge on {args.rows:,} rows: {wall:6.1f} s wall {cpu:6.1f} s CPU "
          f"(penalty {model.alpha:g} x 5460, r {r:.3f} on 2,000 new rows)")


if __name__ == "__main__":
    main()
