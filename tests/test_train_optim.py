"""Optimizers / schedules (each steps, lr shapes, clipping) and the validation metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prixfixe_blocks.spec import StrategySpec
from prixfixe_blocks.strategies.optim import WarmupFactor, effective_warmup, make_optimization
from prixfixe_blocks.training.metrics import (
    average_ranks,
    pearson,
    regression_metrics,
    spearman,
)


def _lrs(strategy: StrategySpec, steps: int) -> tuple[list[float], nn.Module]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = make_optimization(strategy, model, steps)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.optimizer.param_groups[0]["lr"])
        opt.optimizer.zero_grad()
        model(torch.randn(16, 4)).pow(2).mean().backward()
        opt.step(model)
    return lrs, model


@pytest.mark.parametrize("name", ["adamw_onecycle", "adamw_cosine", "adam_warmup"])
def test_each_optimizer_steps_and_changes_weights(name: str) -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    before = model.weight.detach().clone()
    opt = make_optimization(StrategySpec(optimizer=name, lr=0.01, warmup_steps=2), model, 10)
    model(torch.randn(8, 4)).sum().backward()
    opt.step(model)
    assert not torch.equal(before, model.weight)
    assert opt.scheduler.last_epoch == 1


def test_onecycle_peaks_at_lr_after_30_percent() -> None:
    lrs, _ = _lrs(StrategySpec(optimizer="adamw_onecycle", lr=0.005), 100)
    assert lrs[0] == pytest.approx(0.005 / 25)
    assert int(np.argmax(lrs)) in (29, 30) and max(lrs) == pytest.approx(0.005, rel=1e-3)
    assert lrs[-1] < 1e-5


def test_cosine_anneals_per_step_to_zero() -> None:
    lrs, _ = _lrs(StrategySpec(optimizer="adamw_cosine", lr=0.002), 50)
    assert lrs[0] == pytest.approx(0.002) and lrs[25] == pytest.approx(0.001, rel=0.05)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False)) and lrs[-1] < 1e-5


def test_warmup_schedule_peak_equals_lr_and_decays_as_inverse_sqrt() -> None:
    lrs, _ = _lrs(StrategySpec(optimizer="adam_warmup", lr=0.001, warmup_steps=10), 60)
    assert int(np.argmax(lrs)) == 9 and max(lrs) == pytest.approx(0.001)
    assert lrs[0] == pytest.approx(0.001 * 1 / 10)  # linear warm-up: step / warmup
    assert lrs[39] == pytest.approx(0.001 * (10 / 40) ** 0.5)  # peak * (warmup / step)^0.5
    factor = WarmupFactor(10)
    assert factor.__dict__ == {"warmup": 10}  # only plain numbers in the scheduler state


def test_warmup_is_capped_for_short_runs() -> None:
    assert effective_warmup(StrategySpec(warmup_steps=12_500), 1000) == 300
    assert effective_warmup(StrategySpec(warmup_steps=50), 1000) == 50


def test_adam_warmup_clips_value_and_norm() -> None:
    model = nn.Linear(100, 1)
    opt = make_optimization(StrategySpec(optimizer="adam_warmup"), model, 10)
    assert (opt.clip_norm, opt.clip_value) == (1.0, 0.5)
    (model(torch.full((4, 100), 100.0)).sum() * 1000).backward()
    opt.step(model)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert grads.abs().max() <= 0.5 and grads.norm() <= 1.0 + 1e-5
    other = make_optimization(StrategySpec(optimizer="adamw_onecycle"), model, 10)
    assert (other.clip_norm, other.clip_value) == (None, None)


def test_gradients_are_clipped_by_norm_then_by_value() -> None:
    """Unlock_DNA clips to global norm 1 first, then to value 0.5 (the other order keeps 0.1)."""
    model = nn.Linear(2, 1, bias=False)
    opt = make_optimization(StrategySpec(optimizer="adam_warmup"), model, 10)
    model.weight.grad = torch.tensor([[10.0, 0.1]])
    opt.step(model)
    norm_clipped = torch.tensor([10.0, 0.1]) / torch.tensor([10.0, 0.1]).norm()
    expected = norm_clipped.clamp(-0.5, 0.5)
    assert torch.allclose(model.weight.grad.flatten(), expected)
    assert model.weight.grad[0, 1] < 0.02


def test_scheduler_stops_stepping_past_the_planned_steps() -> None:
    lrs, _ = _lrs(StrategySpec(optimizer="adamw_onecycle"), 5)
    model = nn.Linear(2, 1)
    opt = make_optimization(StrategySpec(optimizer="adamw_onecycle"), model, 3)
    for _ in range(6):  # OneCycleLR alone raises after total_steps
        model(torch.randn(2, 2)).sum().backward()
        opt.step(model)
    assert opt.scheduler.last_epoch == 3 and len(lrs) == 5


def test_metrics_against_known_values() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert pearson(x, np.ones(5)) == 0.0
    assert spearman(x, np.ones(5)) == 0.0 and pearson(x[:1], x[:1]) == 0.0  # undefined -> 0
    assert np.isnan(pearson(np.r_[x[:4], np.nan], x))  # a nan prediction is not a score
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    # tied ranks: Pearson of [1, 2.5, 2.5, 4] with [1, 2, 3, 4]
    assert spearman(np.array([1, 2, 2, 3]), x[:4]) == pytest.approx(0.9486833, rel=1e-6)
    m = regression_metrics(np.array([[1.0], [2.0], [4.0]]), np.array([[1.0], [2.0], [3.0]]))
    assert m["val_mse"] == pytest.approx(1 / 3) and m["val_spearman"] == pytest.approx(1.0)
    two = regression_metrics(np.c_[x, x], np.c_[x, -x])
    assert two["val_pearson"] == pytest.approx(0.0) and two["val_pearson_1"] == pytest.approx(-1)
    assert np.isnan(spearman(np.r_[x[:4], np.nan], x))


def test_metrics_match_scipy() -> None:
    """The NumPy sums agree with scipy.stats on data with many ties and a large offset."""
    from scipy import stats

    rng = np.random.default_rng(0)
    for n in (2, 3, 50, 2000):
        a = rng.integers(0, 7, n) + 1e6  # many ties, far from 0
        b = a * 0.3 + rng.normal(size=n)
        if np.ptp(a) == 0:
            continue
        assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic, abs=1e-9)
        assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-9)
        assert np.array_equal(average_ranks(a), stats.rankdata(a))
