"""The sections of `gpu_check.py` that train, and the two scales it runs at (GPU, CPU).

Each training section runs in its own process so that `gpu_check.py` can stop it at its time
limit, and rewrites its result file after every measurement, so what a stopped section had
measured is kept:
- `throughput`: sequences/s (bench_train's `throughput`, second of two short epochs) and peak
  memory of each DREAM preset in each of bench_train's GPU_VARIANTS (fp32, bf16, bf16 +
  length-major inputs, bf16 + torch.compile); the cheap variants of every preset first, then
  the compiled ones (compilation is the slow, uncertain part);
- `epoch`: one DREAM-CNN epoch on the preset's published schedule (1000 batches x 1024), the
  time spent waiting for the shard loader's batches and encoding them vs the time in the
  training step (the step ends with `float(loss)`, so the GPU's work is in it): loader-bound
  when the input side takes at least as long as the step.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from bench_train import GPU_VARIANTS, throughput

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.presets import get_preset, with_width
from prixfixe_blocks.training.trainer import Trainer

DREAM_PRESETS = ("dream-cnn", "dream-rnn", "dream-attn")
GOAL_PRESET = "dream-cnn"
COMPILED = "bf16+compile"
MB = 2**20
DONE, OUT_OF_TIME, RUNNING = "done", "out of time", "running"


@dataclass(frozen=True)
class Mode:
    """One scale of the check: what is trained, on what, and each section's planned seconds."""

    name: str
    device: str
    tiny: bool  # every block at its tiny widths
    rows: int  # simulated training rows
    batch_size: int
    bench_batches: int  # batches per timed epoch of a throughput cell
    epoch_batches: int | None  # batches of the timed epoch (None: the preset's published 1000)
    trials: int
    gpus_per_trial: float
    search_args: tuple[str, ...]  # the rest of the search's `prixfixe-search run` arguments
    plan_s: tuple[tuple[str, float], ...]  # (section, planned seconds), in running order
    env: tuple[tuple[str, str], ...] = ()  # set for every section's process


GPU = Mode("gpu", "cuda", tiny=False, rows=200_000, batch_size=1024, bench_batches=50,
           epoch_batches=None, trials=4, gpus_per_trial=0.5,
           search_args=("--width", "small", "--epochs", "2", "--batches-per-epoch", "40"),
           plan_s=(("setup", 30), ("throughput", 230), ("epoch", 80), ("search", 110)))
CPU = Mode("cpu", "cpu", tiny=True, rows=2_000, batch_size=8, bench_batches=3,
           epoch_batches=6, trials=2, gpus_per_trial=0.0,
           search_args=("--width", "tiny", "--epochs", "1", "--batches-per-epoch", "3",
                        "--fix", "strategy.batch_size=8"),
           plan_s=(("setup", 30), ("throughput", 150), ("epoch", 40), ("search", 120)),
           env=(("OMP_NUM_THREADS", "1"),))  # 2 threads spin ~20x the CPU on a busy 2-core box


def cells() -> list[tuple[str, str]]:
    """(variant, preset) of every throughput cell, in running order: cheap variants first."""
    return [(variant, preset) for variant in GPU_VARIANTS for preset in DREAM_PRESETS]


def peak_memory_mb(device: str) -> float:
    """Peak GPU memory allocated since the last reset (CUDA), else this process's peak RSS."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


class Sink:
    """A section's result, rewritten atomically after every change."""

    def __init__(self, path: Path, **fields: Any) -> None:
        self.path, self.doc = path, {"status": RUNNING, **fields}
        self.save()

    def update(self, **fields: Any) -> None:
        self.doc.update(fields)
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.doc, indent=1))


def throughput_section(mode: Mode, data: Path, budget_s: float, sink: Sink) -> None:
    """Every cell in turn; a cell is skipped as out of time when less time is left than the
    last cell of its variant took (the parent stops the process at the hard limit)."""
    deadline = time.monotonic() + budget_s
    memory = "torch.cuda.max_memory_allocated" if mode.device == "cuda" else \
        "peak RSS of the section's process (monotonic: not per cell)"
    sink.update(batch_size=mode.batch_size, batches=mode.bench_batches, memory=memory, cells=[])
    took: dict[str, float] = {}
    for variant, preset in cells():
        cell: dict[str, Any] = {"preset": preset, "variant": variant}
        if deadline - time.monotonic() < took.get(variant, 0.0):
            sink.update(cells=[*sink.doc["cells"], {**cell, "status": OUT_OF_TIME}])
            continue
        start = time.monotonic()
        sink.update(cells=[*sink.doc["cells"], {**cell, "status": RUNNING}])
        reset_peak_memory(mode.device)
        if variant == COMPILED:
            torch._dynamo.reset()  # each preset compiles from a clean cache
        try:
            rate = throughput(preset, data, mode.device, mode.batch_size, mode.bench_batches,
                              tiny=mode.tiny, **GPU_VARIANTS[variant])
            cell.update(status=DONE, seqs_per_s=rate, peak_memory_mb=peak_memory_mb(mode.device))
        except Exception as err:  # noqa: BLE001 (one failed cell, e.g. OOM, must not end the rest)
            cell.update(status=f"error: {type(err).__name__}: {str(err)[:300]}")
        took[variant] = cell["seconds"] = time.monotonic() - start
        print(f"throughput {preset:<11} {variant:<19} {cell.get('seqs_per_s', 0):>10,.0f} seq/s "
              f"({cell['status']}, {cell['seconds']:.0f} s)", flush=True)
        sink.update(cells=[*sink.doc["cells"][:-1], cell])
    sink.update(status=DONE if all(c["status"] == DONE for c in sink.doc["cells"])
                else OUT_OF_TIME if any(c["status"] == OUT_OF_TIME for c in sink.doc["cells"])
                else "error")


class TimedBatches:
    """Stands in for a Trainer's ShardLoader: counts the seconds spent waiting for each batch
    and ends the epoch early at `deadline` (`cut` then says so)."""

    def __init__(self, loader: ShardLoader, deadline: float) -> None:
        self.loader, self.deadline = loader, deadline
        self.wait_s, self.batches, self.cut = 0.0, 0, False

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int) -> Iterator[Any]:
        batches = self.loader.epoch(epoch)
        while True:
            if time.monotonic() >= self.deadline:
                self.cut = True
                return
            start = time.perf_counter()
            batch = next(batches, None)
            self.wait_s += time.perf_counter() - start
            if batch is None:
                return
            self.batches += 1
            yield batch


class TimedEncoder:
    """Stands in for a Trainer's encoder: counts the seconds spent making training batches."""

    def __init__(self, encoder: Any) -> None:
        self.encoder, self.encode_s = encoder, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def training_batch(self, batch: Any, rng: Any) -> dict[str, torch.Tensor]:
        start = time.perf_counter()
        inputs = self.encoder.training_batch(batch, rng)
        self.encode_s += time.perf_counter() - start
        return inputs


def epoch_section(mode: Mode, data: Path, budget_s: float, sink: Sink) -> None:
    """One DREAM-CNN epoch (the Trainer's defaults: bf16 on a GPU), cut at the time limit."""
    deadline = time.monotonic() + budget_s
    spec = with_width(get_preset(GOAL_PRESET), "tiny") if mode.tiny else get_preset(GOAL_PRESET)
    overrides: dict[str, Any] = {"strategy.batch_size": mode.batch_size}
    if mode.epoch_batches is not None:
        overrides["strategy.batches_per_epoch"] = mode.epoch_batches
    trainer = Trainer(spec.with_overrides(overrides), data, device=mode.device,
                      log=lambda _: None)
    loader, encoder = TimedBatches(trainer.train_loader, deadline), TimedEncoder(trainer.encoder)
    trainer.train_loader, trainer.encoder = loader, encoder  # type: ignore[assignment]
    sink.update(preset=GOAL_PRESET, variant="bf16" if trainer.amp else "fp32",
                batch_size=trainer.plan.batch_size, batches_planned=trainer.plan.batches)
    reset_peak_memory(mode.device)
    start = time.perf_counter()
    result = trainer.train_epoch()
    wall = time.perf_counter() - start
    step = wall - loader.wait_s - encoder.encode_s
    sink.update(status=OUT_OF_TIME if loader.cut else DONE, batches_done=loader.batches,
                seqs_per_s=result["seqs_per_s"], wall_s=wall, wait_s=loader.wait_s,
                encode_s=encoder.encode_s, step_s=step,
                input_share=(loader.wait_s + encoder.encode_s) / wall,
                loader_bound=loader.wait_s + encoder.encode_s >= step,
                peak_memory_mb=peak_memory_mb(mode.device))


SECTIONS = {"throughput": throughput_section, "epoch": epoch_section}
