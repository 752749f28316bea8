"""Targets: soft bins, standardization, decoding, and their errors."""

from __future__ import annotations

import math

import pytest
import torch

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.strategies.targets import N_BINS, make_target


def test_soft_labels_follow_a_normal_around_label_plus_half() -> None:
    target = make_target("softbin")
    probs = target.soft_labels(torch.tensor([[4.0], [0.0], [17.0], [11.3]]))
    assert probs.shape == (4, 1, N_BINS)
    assert torch.allclose(probs.sum(-1), torch.ones(4, 1))
    # label 4 -> Normal(4.5, 0.5): bin 4 holds P(|z| < 1) = 0.6827, bins 3 and 5 0.1573 each
    assert probs[0, 0, 4].item() == pytest.approx(0.6827, abs=1e-4)
    assert probs[0, 0, 3].item() == pytest.approx(0.1573, abs=1e-4)
    assert probs[1, 0, 0].item() == pytest.approx(0.8413, abs=1e-4)  # bin 0 takes (-inf, 1)
    assert probs[2, 0, 17].item() == pytest.approx(0.8413, abs=1e-4)  # bin 17 takes [17, inf)
    expected = (probs[3, 0] * torch.arange(N_BINS)).sum().item()
    assert expected == pytest.approx(11.3, abs=0.01)


def test_softbin_loss_is_kl_and_decodes_the_expected_bin() -> None:
    target = make_target("softbin", 1)
    y = torch.tensor([[6.0], [12.0]])
    perfect = target.soft_labels(y).clamp_min(1e-12).log().view(2, N_BINS)
    assert target.loss(perfect, y).item() == pytest.approx(0.0, abs=1e-5)
    uniform = torch.zeros(2, N_BINS)
    assert target.loss(uniform, y).item() > 0.5
    assert torch.allclose(target.decode(perfect), y, atol=0.01)
    assert target.decode(uniform).flatten().tolist() == pytest.approx([8.5, 8.5])


def test_softbin_is_per_target_on_each_targets_scale() -> None:
    # DeepSTARR-like: two targets on other scales, each mapped onto its own 18 bins.
    stats = [(1.0, 2.0), (-3.0, 0.5)]
    target = make_target("softbin", 2, stats)
    assert target.n_outputs == 2 * N_BINS
    y = torch.tensor([[1.0, -3.0], [3.0, -2.5]])
    assert torch.allclose(target.to_bins(y), torch.tensor([[11.0, 11.0], [14.0, 14.0]]))
    perfect = target.soft_labels(y).clamp_min(1e-12).log().view(2, -1)
    assert torch.allclose(target.decode(perfect), y, atol=0.01)


def test_softbin_with_a_range_maps_it_onto_the_bins() -> None:
    # DREAM labels span 0-17: the range map is the identity (the published method).
    dream = make_target("softbin", 1, [(11.15, 2.35, 0.0, 17.0)])
    y = torch.tensor([[0.0], [5.5], [17.0]])
    assert torch.allclose(dream.to_bins(y), y)
    other = make_target("softbin", 2, [(0.0, 1.0, -2.0, 6.5), (11.0, 3.0)])
    y2 = torch.tensor([[-2.0, 14.0], [6.5, 11.0]])
    assert torch.allclose(other.to_bins(y2), torch.tensor([[0.0, 14.0], [17.0, 11.0]]))
    inside = torch.tensor([[-1.0, 14.0], [5.0, 11.0]])  # end bins bias the expectation inwards
    perfect = other.soft_labels(inside).clamp_min(1e-12).log().view(2, -1)
    assert torch.allclose(other.decode(perfect), inside, atol=0.01)


@pytest.mark.parametrize("name", ["huber", "mse"])
def test_regression_targets_standardize_and_decode(name: str) -> None:
    target = make_target(name, 2, [(11.0, 2.0), (0.0, 4.0)])
    y = torch.tensor([[13.0, 4.0]])
    z = torch.tensor([[1.0, 1.0]])
    assert torch.allclose(target.standardize(y), z)
    assert target.loss(z, y).item() == pytest.approx(0.0)
    assert torch.allclose(target.decode(z), y)
    off = torch.tensor([[4.0, 1.0]])  # error 3 on the first target, 0 on the second
    expected = (3.0 - 0.5) / 2 if name == "huber" else 9.0 / 2
    assert target.loss(off, y).item() == pytest.approx(expected)


def test_regression_default_stats_are_identity() -> None:
    target = make_target("mse", 1)
    assert target.decode(torch.tensor([[2.5]])).item() == pytest.approx(2.5)
    assert math.isclose(make_target("softbin").to_bins(torch.tensor([[7.0]])).item(), 7.0)


@pytest.mark.parametrize("args,message", [
    (("focal", 1, None), "unknown strategy.target 'focal'"),
    (("mse", 2, [(0.0, 1.0)]), "1 (mean, std) stats for 2 targets"),
    (("huber", 1, [(0.0, 0.0)]), "std must be > 0"),
    (("softbin", 0, None), "n_targets must be >= 1"),
    (("softbin", 1, [(0.0, 1.0, 3.0, 3.0)]), "max must be > min"),
    (("mse", 1, [(0.0, 1.0, 3.0)]), "must be (mean, std) or (mean, std, min, max)"),
])
def test_target_errors(args: tuple, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_target(*args)
