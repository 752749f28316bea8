"""Encoded sequences per second: ShardLoader + vectorized encodings vs a naive per-item Dataset.

Usage: python benchmarks/bench_data.py [--rows 1000000] [--data DIR] [--naive-rows 50000]

Both sides produce the LegNet input (plasmid 5'-padding to 150 bp, one-hot with N = 0.25,
is_reverse and is_singleton channels -> float32 (B, 6, 150)) from the same simulated dataset,
in the same process, on the same threads. The naive side is the usual approach: a
``torch.utils.data.Dataset`` holding Python strings that encodes one sequence at a time, batched
by a ``DataLoader``. It is timed on ``--naive-rows`` rows (it is slow) and reported per sequence.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.data.read.encode import one_hot, plasmid_pad, to_codes, with_constant_channels
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.simulate.simulator import simulate

BATCH = 1024


class NaiveDataset(torch.utils.data.Dataset):
    """Per-item encoding of Python strings (the common baseline)."""

    ONE_HOT = {"A": [1.0, 0, 0, 0], "C": [0, 1.0, 0, 0], "G": [0, 0, 1.0, 0], "T": [0, 0, 0, 1.0],
               "N": [0.25] * 4}

    def __init__(self, seqs: list[str], singles: list[int], left_flank: str) -> None:
        self.seqs, self.singles, self.left = seqs, singles, left_flank

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i: int) -> torch.Tensor:
        core = self.seqs[i][17:][:150]
        padded = self.left[len(self.left) - (150 - len(core)):] + core if len(core) < 150 else core
        x = torch.tensor([self.ONE_HOT[c] for c in padded], dtype=torch.float32).T
        extra = torch.tensor([[0.0] * 150, [float(self.singles[i])] * 150])
        return torch.cat([x, extra])


def fast_pass(data: Path, left_flank: str) -> tuple[int, float]:
    """One epoch of ShardLoader batches encoded to (B, 6, 150); returns (rows, seconds)."""
    loader = ShardLoader(data, batch_size=BATCH, columns=["sequence", "is_singleton"], seed=0)
    rows, t0 = 0, time.perf_counter()
    for batch in loader.epoch(0):
        codes = plasmid_pad(batch.column("sequence"), left_flank)
        single = batch.column("is_singleton").to_numpy().astype(np.float32)
        x = with_constant_channels(one_hot(codes, n_value=0.25), 0.0, single)
        rows += x.shape[0]
    return rows, time.perf_counter() - t0


def codes_only(data: Path) -> tuple[int, float]:
    """Shard read + to_codes(110) only: the floor of the pipeline."""
    loader = ShardLoader(data, batch_size=BATCH, columns=["sequence"], shuffle=False)
    rows, t0 = 0, time.perf_counter()
    for batch in loader.epoch(0):
        rows += to_codes(batch.column("sequence"), 110).shape[0]
    return rows, time.perf_counter() - t0


def naive_pass(data: Path, left_flank: str, n: int) -> tuple[int, float]:
    """The per-item Dataset over the first ``n`` rows; returns (rows, seconds)."""
    meta = open_dataset(data)
    table = pq.read_table(meta.shard_paths(data)[0], columns=["sequence", "is_singleton"])
    table = table.slice(0, n)
    t0 = time.perf_counter()
    ds = NaiveDataset(table["sequence"].to_pylist(), table["is_singleton"].to_pylist(),
                      left_flank)
    loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=0)
    rows = sum(x.shape[0] for x in loader)
    return rows, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=None, help="existing dataset (else simulate)")
    parser.add_argument("--naive-rows", type=int, default=50_000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "sim"
            t0 = time.perf_counter()
            simulate(data, args.rows, seed=0, test_rows=100)
            print(f"simulated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
        left = open_dataset(data).plasmid["left_flank"]
        n, secs = codes_only(data)
        print(f"shards -> codes (110):          {n / secs:12,.0f} seq/s ({n:,} rows)")
        n, secs = fast_pass(data, left)
        fast = n / secs
        print(f"ShardLoader -> (B, 6, 150):      {fast:12,.0f} seq/s ({n:,} rows, {secs:.1f} s)")
        n, secs = naive_pass(data, left, args.naive_rows)
        naive = n / secs
        print(f"naive per-item Dataset:          {naive:12,.0f} seq/s ({n:,} rows, {secs:.1f} s)")
        print(f"ratio (vectorized / naive):      {fast / naive:12.1f}x")


if __name__ == "__main__":
    main()
