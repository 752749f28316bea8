"""Optimizers and learning-rate schedules (strategy.optimizer), stepped once per batch.

Each recipe is a function registered in `OPTIMIZERS` that builds an `Optimization`:
- "adamw_onecycle": AdamW + One Cycle (max lr = strategy.lr, div 25, pct_start 0.3, cosine);
- "adamw_cosine": AdamW + cosine annealing from strategy.lr to 0 over the run;
- "adam_warmup": Adam (betas 0.9/0.98, eps 1e-9) + the Transformer warm-up schedule
  d^-0.5 * min(step^-0.5, step * warmup^-1.5), scaled so that its peak equals strategy.lr;
  gradients clipped to global norm 1.0, then to value 0.5.
Schedules are built from plain callables/objects so that their state dicts hold only numbers
(checkpoints load with `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from prixfixe_blocks.strategies.components import Registry
from prixfixe_blocks.strategies.strategy_spec import StrategySpec

ONECYCLE_DIV = 25.0
ONECYCLE_PCT_START = 0.3
ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-9
WARMUP_CLIP_NORM = 1.0
WARMUP_CLIP_VALUE = 0.5
# The warm-up is capped at this fraction of the run so that short runs still reach the peak lr.
MAX_WARMUP_FRACTION = 0.3


class WarmupFactor:
    """Transformer warm-up as a factor of the peak lr: min(s^-0.5, s * w^-1.5) / w^-0.5.

    A callable object (not a lambda) so LambdaLR's state dict stores its plain attributes.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = max(1, int(warmup))

    def __call__(self, step: int) -> float:
        s = step + 1
        return min(s ** -0.5, s * self.warmup ** -1.5) * math.sqrt(self.warmup)


@dataclass
class Optimization:
    """An optimizer, its per-batch scheduler and the gradient clipping it asks for."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    total_steps: int
    clip_norm: float | None = None
    clip_value: float | None = None

    def step(self, model: nn.Module) -> None:
        """Clip gradients (if configured: by global norm, then by value, in Unlock_DNA's
        order), step the optimizer and then the schedule."""
        params = [p for p in model.parameters() if p.grad is not None]
        if self.clip_norm is not None:
            nn.utils.clip_grad_norm_(params, self.clip_norm)
        if self.clip_value is not None:
            nn.utils.clip_grad_value_(params, self.clip_value)
        self.optimizer.step()
        if self.scheduler.last_epoch < self.total_steps:  # past the plan: keep the final lr
            self.scheduler.step()


def effective_warmup(strategy: StrategySpec, total_steps: int) -> int:
    """strategy.warmup_steps, capped at MAX_WARMUP_FRACTION of the run (at least 1 step)."""
    cap = max(1, int(MAX_WARMUP_FRACTION * total_steps))
    return max(1, min(int(strategy.warmup_steps), cap))


Recipe = Callable[[StrategySpec, list[nn.Parameter], int], Optimization]
OPTIMIZERS: Registry[Recipe] = Registry("optimizer")


def make_optimization(strategy: StrategySpec, model: nn.Module, total_steps: int
                      ) -> Optimization:
    """Optimizer + schedule for `total_steps` optimizer steps (epochs x batches per epoch)."""
    recipe = OPTIMIZERS.get(strategy.optimizer)
    params = [p for p in model.parameters() if p.requires_grad]
    return recipe(strategy, params, max(1, int(total_steps)))


@OPTIMIZERS.register("adamw_onecycle")
def adamw_onecycle(strategy: StrategySpec, params: list[nn.Parameter], total_steps: int
                   ) -> Optimization:
    """AdamW + One Cycle (Autosome.org)."""
    lr = float(strategy.lr)
    opt = torch.optim.AdamW(params, lr=lr / ONECYCLE_DIV, weight_decay=float(strategy.weight_decay))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=total_steps, div_factor=ONECYCLE_DIV,
        pct_start=ONECYCLE_PCT_START, anneal_strategy="cos",
    )
    return Optimization(opt, sched, total_steps, clip_norm=strategy.grad_clip)


@OPTIMIZERS.register("adamw_cosine")
def adamw_cosine(strategy: StrategySpec, params: list[nn.Parameter], total_steps: int
                 ) -> Optimization:
    """AdamW + cosine annealing to 0 (BHI)."""
    opt = torch.optim.AdamW(params, lr=float(strategy.lr),
                            weight_decay=float(strategy.weight_decay))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return Optimization(opt, sched, total_steps, clip_norm=strategy.grad_clip)


@OPTIMIZERS.register("adam_warmup")
def adam_warmup(strategy: StrategySpec, params: list[nn.Parameter], total_steps: int
                ) -> Optimization:
    """Adam + the Transformer warm-up, gradients clipped (Unlock_DNA)."""
    opt = torch.optim.Adam(params, lr=float(strategy.lr), betas=ADAM_BETAS, eps=ADAM_EPS,
                           weight_decay=float(strategy.weight_decay))
    factor = WarmupFactor(effective_warmup(strategy, total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    norm = strategy.grad_clip if strategy.grad_clip is not None else WARMUP_CLIP_NORM
    return Optimization(opt, sched, total_steps, clip_norm=norm, clip_value=WARMUP_CLIP_VALUE)
