"""Train-step speed of the DREAM presets against the seed's own code, side by side on one CPU.

The seed (de-Boer-Lab/random-promoter-dream-challenge-2022) is imported at run time from the
clone given with --seed-repo (or ../shared/seed, its prixfixe/ package) by seed_code.py, which
the tests comparing our blocks with the seed's use too; nothing of it is copied here. For each
preset this builds the seed's model with the arguments of its DREAM notebook
(DREAMNets_BuildModel_Train_and_Predict: BHI first + Autosome core + Autosome final for
DREAM-CNN, BHI first + BHI core for DREAM-RNN, Autosome first + Unlock_DNA core for DREAM-Attn,
all with Autosome's final block) and ours as
`prixfixe-search train` runs it (a `Trainer` on the preset at published width), checks that both
have the same number of parameters, and times training steps on the same random batch of
one-hot 150 bp sequences with the is_reverse and is_singleton channels (6 x 150), with the same
number of torch threads:

- seed: `PrixFixeNet.train_step` (its 18-bin soft-classification KL loss on `y_probs`), backward,
  AdamW step, zero_grad, One Cycle step: what the seed's `AutosomeTrainer.train_step` does;
- ours: `Trainer._train_step` on the same tensors: `training_step` (softbin KL on 18 bins, the
  soft labels computed from `y` in the loss), zero_grad, backward, AdamW + One Cycle step;
- ours + encoding: the same step fed from raw sequences by the Trainer's encoder (plasmid
  padding, one-hot, random strand): the work the seed does in its DataLoader workers instead,
  so it is shown beside the comparison, not in it.

After a warm-up, ours and the seed's alternate (which goes first alternates too) over
--repeats rounds of --steps steps each; the table gives the median sequences/s of each and the
median ratio ours / seed with its range over the rounds. --profile N then prints the N most
expensive operators of two more steps of each (torch.profiler, self CPU time). Example:

    .venv/bin/python benchmarks/seed_speed.py --seed-repo ../seed-repo --batch-size 32 \\
        --steps 3 --repeats 5

On a machine whose cores other jobs also use, two or more torch threads wait for each other
in OpenMP's spinning barriers: steps ran ~10x slower than with one thread and the rounds
scattered (ratios 0.16 to 1.07); `--threads 1` or OMP_WAIT_POLICY=PASSIVE gives stable figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.seed_code

from benchmarks.seed_code import (  # noqa: E402
    CHANNELS,
    PRESETS,
    SEQ_LEN,
    SeedNotFound,
    load_seed,
    seed_model,
)
from prixfixe_blocks.blocks.compose import count_parameters  # noqa: E402
from prixfixe_blocks.presets import get_preset  # noqa: E402
from prixfixe_blocks.strategies.targets import make_target  # noqa: E402
from prixfixe_blocks.training.trainer import Trainer  # noqa: E402
from search.cli import main as cli_main  # noqa: E402

Step = Callable[[], None]


# -- the seed's training step ------------------------------------------------------------------
def seed_step(model: nn.Module, lr: float, total_steps: int, batch: dict[str, Tensor]) -> Step:
    """One training step as the seed's AutosomeTrainer takes it (AdamW, weight decay 0.01,
    One Cycle from lr / 25 to `lr`)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr / 25.0, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, div_factor=25.0,
                                                total_steps=total_steps, pct_start=0.3,
                                                three_phase=False)

    def step() -> None:
        _, loss = model.train_step(dict(batch))  # it writes each block's output into batch
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        loss.item()

    model.train()
    return step


# -- ours ----------------------------------------------------------------------------------------
def our_trainer(preset: str, data: Path, batch_size: int) -> Trainer:
    """A Trainer on the preset at published width (schedule included), as `train` builds it."""
    spec = get_preset(preset).with_overrides({"strategy.batch_size": batch_size})
    trainer = Trainer(spec, data, device="cpu", log=lambda _m: None)
    trainer.model.train()
    return trainer


def our_steps(trainer: Trainer, batch: dict[str, Tensor]) -> tuple[Step, Step]:
    """The Trainer's step on the prepared tensors, and the same step fed from a batch of raw
    training rows by its encoder (plasmid padding, one-hot, random strand)."""
    rows = next(iter(trainer.train_loader.epoch(0)))

    def step() -> None:
        trainer._train_step(batch)

    def step_encoded() -> None:
        trainer._train_step(trainer.encoder.training_batch(rows, trainer.rng))

    return step, step_encoded


# -- the shared batch and the timing -------------------------------------------------------------
def make_batch(batch_size: int, gen: torch.Generator) -> tuple[dict[str, Tensor],
                                                                dict[str, Tensor]]:
    """One random batch for ours ({x, y}) and the seed ({x, y, y_probs}): the same x (one-hot
    150 bp, random strand flag, singleton flag) and labels in 0-17; the seed's soft labels are
    what its dataset hands it (its DataLoader computes them, so they are made here)."""
    codes = torch.randint(0, 4, (batch_size, SEQ_LEN), generator=gen)
    x = torch.zeros(batch_size, CHANNELS, SEQ_LEN)
    x[:, :4] = nn.functional.one_hot(codes, 4).transpose(1, 2).float()
    x[:, 4] = torch.randint(0, 2, (batch_size, 1), generator=gen).float()
    x[:, 5] = torch.randint(0, 2, (batch_size, 1), generator=gen).float()
    y = torch.rand(batch_size, 1, generator=gen) * 17.0
    y_probs = make_target("softbin").soft_labels(y).squeeze(1)
    return {"x": x, "y": y}, {"x": x.clone(), "y": y.squeeze(1).clone(), "y_probs": y_probs}


def seqs_per_s(step: Step, steps: int, batch_size: int) -> float:
    """Sequences/s over `steps` calls of `step`."""
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def compare(steps: dict[str, Step], args: argparse.Namespace) -> dict[str, list[float]]:
    """Sequences/s of each step per round: `args.warmup` untimed calls each, then
    `args.repeats` rounds of `args.steps` calls each, in an order that rotates every round."""
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    names = list(steps)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            rates[name].append(seqs_per_s(steps[name], args.steps, args.batch_size))
    return rates


def profile(label: str, step: Step, rows: int) -> None:
    """The `rows` most expensive operators of two steps (self CPU time), printed."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
        step()
    print(f"\n--- {label}: two steps, top {rows} operators by self CPU time")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def run_preset(preset: str, seed: dict[str, Any], data: Path, args: argparse.Namespace) -> str:
    """Build both models, check their sizes, time them; one table row."""
    torch.manual_seed(args.seed)
    trainer = our_trainer(preset, data, args.batch_size)
    model = seed_model(seed, preset, torch.Generator().manual_seed(args.seed))
    ours_n, seed_n = count_parameters(trainer.model), count_parameters(model)
    if ours_n != seed_n:
        raise SystemExit(f"{preset}: {ours_n:,} parameters here, {seed_n:,} in the seed's model "
                         "(the two would not be the same network)")
    ours_batch, seed_batch = make_batch(args.batch_size, torch.Generator().manual_seed(args.seed))
    ours, ours_encoded = our_steps(trainer, ours_batch)
    steps = {"ours": ours, "seed": seed_step(model, float(trainer.strategy.lr),
                                             trainer.total_steps, seed_batch)}
    if args.encoding:
        steps["ours+enc"] = ours_encoded
    rates = compare(steps, args)
    if args.profile:  # after the timing, so both are warm
        profile(f"{preset} ours", ours, args.profile)
        profile(f"{preset} seed", steps["seed"], args.profile)
    ratios = [o / s for o, s in zip(rates["ours"], rates["seed"], strict=True)]
    enc = f"{statistics.median(rates['ours+enc']):>14.1f}" if args.encoding else ""
    return (f"{preset:<12}{seed_n:>12,}{statistics.median(rates['ours']):>10.1f}"
            f"{statistics.median(rates['seed']):>10.1f}   x{statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}){enc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-repo", type=Path, required=True,
                        help="a clone of de-Boer-Lab/random-promoter-dream-challenge-2022")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (ours and seed each)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps each first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-encoding", dest="encoding", action="store_false",
                        help="leave out the ours + encoding column")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the N most expensive operators of two steps of each")
    args = parser.parse_args()
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = sorted(set(presets) - set(PRESETS))
    if unknown:
        raise SystemExit(f"--presets: {', '.join(unknown)} not among {', '.join(PRESETS)} (the "
                         "presets the seed's DREAM notebook builds)")
    try:
        seed = load_seed(args.seed_repo)
    except SeedNotFound as err:
        raise SystemExit(f"--seed-repo {err}") from None
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY "
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}), batch "
          f"{args.batch_size} x {CHANNELS} x {SEQ_LEN}, {args.warmup} warm-up + {args.repeats} "
          f"rounds x {args.steps} steps each; seed code from {args.seed_repo.resolve()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sim"
        if cli_main(["data", "simulate", "--rows", "2000", "--out", str(data)]) != 0:
            raise SystemExit("data simulate failed")
        header = (f"{'preset':<12}{'parameters':>12}{'ours':>10}{'seed':>10}   "
                  f"{'ours/seed (range)':<20}" + (f"{'ours+encoding':>14}" if args.encoding
                                                   else ""))
        lines = [run_preset(p, seed, data, args) for p in presets]
        print("\nsequences/s (median over rounds)")
        print(header)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
