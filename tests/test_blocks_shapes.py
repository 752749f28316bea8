"""Output shapes are computed, not hand-wired, and compose inserts the adapters it must."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prixfixe_blocks.blocks.adapters import OneHot, Projection, PseudoTokens
from prixfixe_blocks.blocks.compose import compose, example_batch
from prixfixe_blocks.blocks.layers import SameConv1d
from prixfixe_blocks.blocks.registry import get_block, make_config
from prixfixe_blocks.presets import with_width
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.spec import BlockSpec, ModelSpec, StrategySpec
from prixfixe_blocks.strategies.input_encodings import default_input_shape
from prixfixe_blocks.strategies.targets import make_target
from tests.spec_support import tiny_params

torch.set_num_threads(2)

FEATURE_SHAPES = [Shape("features", 6, 150), Shape("features", 4, 110),
                  Shape("features", 16, 58, n_pseudo=2)]


def build(role: str, name: str, shape: Shape, **params: object) -> nn.Module:
    entry = get_block(role, name)
    config = make_config(role, name, {**tiny_params(role, name), **params})
    if role == "final":
        return entry.cls(config, shape, make_target("softbin", 2, None))
    return entry.cls(config, shape)


@pytest.mark.parametrize("shape", FEATURE_SHAPES, ids=lambda s: s.describe())
@pytest.mark.parametrize("role,name", [
    ("first", "autosome"), ("first", "bhi"), ("first", "unlockdna"), ("core", "autosome"),
    ("core", "bhi"), ("core", "camformers"), ("final", "autosome"), ("final", "bhi"),
    ("final", "camformers"),
])
def test_output_shape_matches_a_real_forward(role: str, name: str, shape: Shape) -> None:
    block = build(role, name, shape).train()
    out = block(torch.randn(5, shape.channels, shape.length))
    declared = block.output_shape()
    if out.dim() == 2:
        assert (declared.kind, declared.channels) == ("vector", out.shape[1])
    else:
        assert (declared.channels, declared.length) == tuple(out.shape[1:])
    assert block.training  # computing the shape leaves the mode alone


def test_widths_follow_the_config() -> None:
    shape = Shape("features", 6, 150)
    assert build("first", "bhi", shape, channels=12).output_shape() == Shape("features", 24, 150)
    assert build("core", "autosome", shape, block_sizes=(8, 24)).output_shape().channels == 24
    pooled = build("core", "camformers", shape, pool_sizes=(2, 3, 1)).output_shape()
    assert (pooled.channels, pooled.length) == (8, 25)
    assert build("final", "bhi", shape).output_shape() == Shape("vector", 36, 1)  # 2 x 18 bins


def test_unlockdna_first_prepends_pseudo_tokens_for_tokens_and_features() -> None:
    tokens = build("first", "unlockdna", Shape("tokens", 6, 200), n_pseudo=3)
    out = tokens(torch.randint(0, 6, (2, 200)))
    assert out.shape == (2, 16, 203)
    assert tokens.output_shape() == Shape("features", 16, 203, n_pseudo=3)
    features = build("first", "unlockdna", Shape("features", 4, 110), kmer=10)
    assert features.output_shape() == Shape("features", 16, 112, n_pseudo=2)


def test_pseudo_tokens_survive_length_keeping_cores_only() -> None:
    shape = Shape("features", 16, 58, n_pseudo=2)
    assert build("core", "bhi", shape).output_shape().n_pseudo == 2
    assert build("core", "camformers", shape).output_shape().n_pseudo == 0


def adapter_types(model: nn.Module, role: str) -> list[type]:
    return [type(m) for m in model.adapters[role]]


def model_for(first: str, core: str, final: str, encoding: str) -> nn.Module:
    spec = ModelSpec(BlockSpec(first), BlockSpec(core), BlockSpec(final),
                     StrategySpec(encoding=encoding, target="huber"))
    return compose(with_width(spec, "tiny"))


def test_tokens_are_one_hot_encoded_for_feature_first_blocks() -> None:
    model = model_for("autosome", "autosome", "autosome", "unlockdna")
    assert adapter_types(model, "first") == [OneHot]
    assert model.first.in_shape == Shape("features", 6, 200)
    assert adapter_types(model_for("unlockdna", "bhi", "bhi", "unlockdna"), "first") == []


def test_projection_when_a_core_wants_another_width() -> None:
    model = model_for("bhi", "unlockdna", "autosome", "bhi")  # bhi first: 16 ch; core d_model 16
    assert adapter_types(model, "core") == []
    spec = with_width(ModelSpec(BlockSpec("bhi"), BlockSpec("unlockdna"), BlockSpec("autosome")),
                      "tiny")
    model = compose(spec.with_overrides(["core.d_model=24", "core.n_heads=4"]))
    assert adapter_types(model, "core") == [Projection]
    assert model.core.in_shape.channels == 24


def test_pseudo_tokens_made_by_attention_pooling_when_missing() -> None:
    made = model_for("bhi", "camformers", "unlockdna", "bhi")
    assert adapter_types(made, "final") == [PseudoTokens]
    assert made.final.in_shape.n_pseudo == 2
    kept = model_for("unlockdna", "unlockdna", "unlockdna", "unlockdna")
    assert adapter_types(kept, "final") == []


def test_mlm_loss_works_when_the_core_pooled_the_positions() -> None:
    model = model_for("unlockdna", "camformers", "unlockdna", "unlockdna")
    batch = example_batch(model.input_shape, 1, 2, mask_fraction=0.3)
    _, parts = model.training_step(batch)
    assert parts["loss_aux"] > 0.0


def test_default_input_shapes_are_the_dream_encodings() -> None:
    assert {name: default_input_shape(name) for name in ("autosome", "bhi", "unlockdna")} == {
        "autosome": Shape("features", 6, 150),
        "bhi": Shape("features", 4, 110),
        "unlockdna": Shape("tokens", 6, 200),
    }


def test_other_input_shapes_compose_too() -> None:
    deepstarr = Shape("features", 4, 249)
    spec = with_width(ModelSpec(BlockSpec("bhi"), BlockSpec("camformers"), BlockSpec("bhi"),
                                StrategySpec(encoding="bhi", target="mse")), "tiny")
    model = compose(spec, input_shape=deepstarr, n_targets=2)
    pred = model.eval()(example_batch(deepstarr, 2, 4))
    assert pred.shape == (4, 2)


def test_state_dict_round_trip_gives_the_same_predictions() -> None:
    spec = with_width(ModelSpec(BlockSpec("unlockdna"), BlockSpec("bhi"), BlockSpec("autosome")),
                      "tiny")
    stats = [(5.0, 2.0)]
    model = compose(spec, target_stats=stats).eval()
    batch = example_batch(model.input_shape, 1, 3)
    again = compose(spec).eval()  # default stats: restored from the state dict
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(model(batch), again(batch))


@pytest.mark.parametrize("kernel,groups", [(1, 1), (7, 1), (15, 1), (4, 1), (7, 4), (15, 8),
                                           (1, 8), (6, 8)])
def test_same_conv_keeps_the_length_and_pads_with_zeros(kernel: int, groups: int) -> None:
    """Whichever way it pads (inside the conv or a padded copy, chosen by speed), SameConv1d is
    the convolution of the input zero-padded (k - 1) // 2 on the left, k // 2 on the right."""
    torch.manual_seed(0)
    conv = SameConv1d(8, 16, kernel, groups=groups)
    x = torch.randn(3, 8, 21)
    expected = F.conv1d(F.pad(x, ((kernel - 1) // 2, kernel // 2)), conv.weight, conv.bias,
                        groups=groups)
    assert torch.allclose(conv(x), expected, atol=1e-5)
