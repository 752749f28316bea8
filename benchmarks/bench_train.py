"""Training throughput (sequences/s) of each preset, with ratios against plain fp32 eager.

CPU: fp32 eager vs bf16 autocast. GPU (when present): fp32 eager vs bf16 autocast, bf16 +
channels_last (length-major 1-D layout) and bf16 + torch.compile, all in this process on the
same simulated DREAM-like dataset. Each figure is the second of two timed epochs (the first pays
for warm-up / compilation). `--memory` adds peak resident memory (and peak GPU memory on a GPU)
per preset and batch size, each measured in a fresh process that trains one batch. Example:

    .venv/bin/python benchmarks/bench_train.py --presets dream-cnn,dream-rnn --batches 4
    .venv/bin/python benchmarks/bench_train.py --memory 32,256,1024
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from prixfixe_blocks.presets import get_preset, preset_names, with_width
from prixfixe_blocks.training.trainer import Trainer
from search.cli import main as cli_main

CPU_VARIANTS = {"fp32": {"amp": False}, "bf16": {"amp": True}}
SAFE_FRACTION = 0.8  # of the available memory a --memory cell may be expected to need
GPU_VARIANTS = {
    "fp32": {"amp": False},
    "bf16": {"amp": True},
    "bf16+channels_last": {"amp": True, "channels_last": True},
    "bf16+compile": {"amp": True, "compile": True},
}


def make_trainer(preset: str, data: Path, device: str, batch_size: int, batches: int, *,
                 tiny: bool = False, **options: object) -> Trainer:
    """A quiet Trainer for `preset` (its blocks at tiny widths if `tiny`) with two epochs of
    `batches` batches of `batch_size`."""
    spec = with_width(get_preset(preset), "tiny") if tiny else get_preset(preset)
    spec = spec.with_overrides({
        "strategy.batch_size": batch_size, "strategy.batches_per_epoch": batches,
        "strategy.epochs": 2,
    })
    return Trainer(spec, data, device=device, log=lambda _: None, **options)  # type: ignore[arg-type]


def throughput(preset: str, data: Path, device: str, batch_size: int, batches: int, *,
               tiny: bool = False, **options: object) -> float:
    """Sequences/s of the second training epoch of `preset` under the given Trainer options."""
    trainer = make_trainer(preset, data, device, batch_size, batches, tiny=tiny, **options)
    trainer.train_epoch()
    if device == "cuda":
        torch.cuda.synchronize()
    return trainer.train_epoch()["seqs_per_s"]


def run(presets: list[str], data: Path, device: str, batch_size: int, batches: int) -> None:
    """Print one row per preset: seq/s per variant and the ratio to fp32 eager."""
    variants = GPU_VARIANTS if device == "cuda" else CPU_VARIANTS
    print(f"device {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}, "
          f"{torch.get_num_threads()} threads), batch {batch_size}, {batches} batches/epoch")
    print(f"{'preset':<12}" + "".join(f"{name:>22}" for name in variants))
    for preset in presets:
        cells, base = [], None
        for options in variants.values():
            try:
                rate = throughput(preset, data, device, batch_size, batches, **options)
            except (RuntimeError, NotImplementedError) as err:  # e.g. no bf16 kernels
                cells.append(f"{'n/a (' + type(err).__name__ + ')':>22}")
                continue
            base = base or rate
            cells.append(f"{rate:>10.0f} seq/s x{rate / base:4.2f}")
        print(f"{preset:<12}" + "".join(f"{c:>22}" for c in cells), flush=True)


def peak_memory(preset: str, data: Path, device: str, batch_size: int) -> tuple[float, float]:
    """(peak resident MB, peak GPU MB) of a fresh process that builds `preset` and trains one
    batch of `batch_size` (ru_maxrss never falls, so each cell needs its own process)."""
    return in_fresh_process(_train_one_batch, preset, data, device, batch_size)


def in_fresh_process(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a newly spawned process (its own peak RSS and CUDA context)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _train_one_batch(preset: str, data: Path, device: str, batch_size: int
                     ) -> tuple[float, float]:
    """Child of `peak_memory`: one epoch of one batch, then the peaks in MB."""
    make_trainer(preset, data, device, batch_size, 1).train_epoch()
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, gpu


def memory_table(presets: list[str], data: Path, device: str, batch_sizes: list[int]) -> None:
    """Print peak memory per preset (rows) and batch size (columns, ascending). A cell whose
    peak, extrapolated from the smaller batches, would not fit in the memory available now is
    skipped rather than run into the OOM killer."""
    base = peak_memory_baseline()
    batch_sizes = sorted(batch_sizes)
    print(f"\npeak resident memory, MB (one batch in a fresh process; torch imported: {base:.0f})"
          + (" / peak GPU MB" if device == "cuda" else ""))
    print(f"{'preset':<12}" + "".join(f"{'batch ' + str(b):>18}" for b in batch_sizes))
    for preset in presets:
        cells, seen = [], []
        for batch in batch_sizes:
            guess = extrapolate(seen, batch)
            if guess > SAFE_FRACTION * available_mb():
                cells.append(f"skip (~{guess / 1024:.0f} GB)")
                continue
            rss, gpu = peak_memory(preset, data, device, batch)
            seen.append((batch, rss))
            cells.append(f"{rss:>10.0f}" + (f" / {gpu:>5.0f}" if device == "cuda" else ""))
        print(f"{preset:<12}" + "".join(f"{c:>18}" for c in cells), flush=True)


def extrapolate(seen: list[tuple[int, float]], batch: int) -> float:
    """Peak MB expected at `batch` from (batch, MB) measured at smaller ones: linear through
    the last two, proportional from one, 0 (unknown) from none."""
    if not seen:
        return 0.0
    if len(seen) == 1:
        return seen[0][1] * batch / seen[0][0]
    (b1, m1), (b2, m2) = seen[-2], seen[-1]
    return m2 + (m2 - m1) / (b2 - b1) * (batch - b2)


def available_mb() -> float:
    """Memory the kernel could give a new process now (MemAvailable), MB."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def peak_memory_baseline() -> float:
    """Peak resident MB of a fresh process that only imports torch and the trainer."""
    return in_fresh_process(_baseline)


def _baseline() -> float:
    """Child of `peak_memory_baseline`."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(preset_names()))
    parser.add_argument("--batch-size", type=int, default=None, help="default 128 CPU, 1024 GPU")
    parser.add_argument("--batches", type=int, default=None, help="default 3 CPU, 30 GPU")
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--memory", default="",
                        help="batch sizes for the peak-memory table, e.g. 32,256,1024 "
                             "(published widths: ~1 min per cell at 1024 on 2 CPU cores)")
    parser.add_argument("--no-speed", action="store_true", help="only the memory table")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    gpu = device == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sim"
        assert cli_main(["data", "simulate", "--rows", str(args.rows), "--out", str(data)]) == 0
        presets = args.presets.split(",")
        if not args.no_speed:
            run(presets, data, device, args.batch_size or (1024 if gpu else 128),
                args.batches or (30 if gpu else 3))
        if args.memory:
            memory_table(presets, data, device, [int(b) for b in args.memory.split(",")])


if __name__ == "__main__":
    main()
