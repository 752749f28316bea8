"""Training throughput (sequences/s) of each preset, with ratios against plain fp32 eager.

CPU: fp32 eager vs bf16 autocast. GPU (when present): fp32 eager vs bf16 autocast, bf16 +
channels_last (length-major 1-D layout) and bf16 + torch.compile, all in this process on the
same simulated DREAM-like dataset. Each figure is the second of two timed epochs (the first pays
for warm-up / compilation). Example:

    .venv/bin/python benchmarks/bench_train.py --presets dream-cnn,dream-rnn --batches 4
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from prixfixe_blocks.presets import get_preset, preset_names
from prixfixe_blocks.training.trainer import Trainer
from search.cli import main as cli_main

CPU_VARIANTS = {"fp32": {"amp": False}, "bf16": {"amp": True}}
GPU_VARIANTS = {
    "fp32": {"amp": False},
    "bf16": {"amp": True},
    "bf16+channels_last": {"amp": True, "channels_last": True},
    "bf16+compile": {"amp": True, "compile": True},
}


def throughput(preset: str, data: Path, device: str, batch_size: int, batches: int,
               **options: object) -> float:
    """Sequences/s of the second training epoch of `preset` under the given Trainer options."""
    spec = get_preset(preset).with_overrides({
        "strategy.batch_size": batch_size, "strategy.batches_per_epoch": batches,
        "strategy.epochs": 2,
    })
    trainer = Trainer(spec, data, device=device, log=lambda _: None, **options)  # type: ignore[arg-type]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(preset_names()))
    parser.add_argument("--batch-size", type=int, default=None, help="default 128 CPU, 1024 GPU")
    parser.add_argument("--batches", type=int, default=None, help="default 3 CPU, 30 GPU")
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    gpu = device == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sim"
        assert cli_main(["data", "simulate", "--rows", str(args.rows), "--out", str(data)]) == 0
        run(args.presets.split(","), data, device, args.batch_size or (1024 if gpu else 128),
            args.batches or (30 if gpu else 3))


if __name__ == "__main__":
    main()
