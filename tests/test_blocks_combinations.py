"""Every first x core x final combination composes, trains and predicts, for every encoding's
input shape and every target (tiny widths, CPU)."""

from __future__ import annotations

import itertools

import pytest
import torch

from prixfixe_blocks.blocks.compose import compose, example_batch
from prixfixe_blocks.blocks.registry import block_names
from prixfixe_blocks.presets import with_width
from prixfixe_blocks.spec import BlockSpec, ModelSpec, StrategySpec

torch.set_num_threads(2)

FIRSTS = ("autosome", "bhi", "unlockdna")
CORES = ("autosome", "bhi", "unlockdna", "camformers")
FINALS = ("autosome", "bhi", "unlockdna", "camformers")
ENCODINGS = ("autosome", "bhi", "unlockdna")
TARGETS = ("softbin", "huber", "mse")
BATCH = 3


def tiny_model_spec(first: str, core: str, final: str, encoding: str, target: str) -> ModelSpec:
    return with_width(ModelSpec(BlockSpec(first), BlockSpec(core), BlockSpec(final),
                                StrategySpec(encoding=encoding, target=target)), "tiny")


def test_the_issue_blocks_are_all_registered() -> None:
    assert block_names("first") == sorted(FIRSTS)
    assert block_names("core") == sorted(CORES)
    assert block_names("final") == sorted(FINALS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("first,core,final", list(itertools.product(FIRSTS, CORES, FINALS)))
def test_combination_trains_and_predicts(first: str, core: str, final: str, encoding: str,
                                         target: str) -> None:
    torch.manual_seed(0)
    n_targets = 2 if target != "softbin" or first == "bhi" else 1
    model = compose(tiny_model_spec(first, core, final, encoding, target), n_targets=n_targets)
    batch = example_batch(model.input_shape, n_targets, BATCH, mask_fraction=0.2)
    model.train()
    loss, parts = model.training_step(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    if final == "unlockdna":
        assert set(parts) == {"loss_main", "loss_aux"}
        assert parts["loss_aux"] > 0.0  # masked-nucleotide loss on the masked positions
        assert loss.item() == pytest.approx(parts["loss_main"] + parts["loss_aux"], rel=1e-4)
    else:
        assert set(parts) == {"loss_main"}  # no auxiliary loss, so none is reported
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(param.grad).all(), f"non-finite gradient for {name}"
    for role in ("first", "core", "final"):
        grads = [p.grad.abs().sum() for p in getattr(model, role).parameters()]
        assert grads and sum(grads) > 0, f"{role} block got no gradient"
    model.eval()
    with torch.no_grad():
        pred = model(batch)
    assert pred.shape == (BATCH, n_targets)
    assert torch.isfinite(pred).all()
