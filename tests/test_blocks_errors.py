"""Bad block names, params and combinations fail at build time with clear ConfigErrors."""

from __future__ import annotations

import pytest
import torch

from prixfixe_blocks.blocks.compose import compose, example_batch
from prixfixe_blocks.blocks.registry import make_config
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.presets import get_preset, with_width
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.spec import BlockSpec, ModelSpec, StrategySpec
from tests.spec_support import tiny_params

BLOCKS = [("first", n) for n in ("autosome", "bhi", "unlockdna")] + [
    (role, n) for role in ("core", "final") for n in ("autosome", "bhi", "unlockdna", "camformers")
]


def spec_of(first: str = "bhi", core: str = "autosome", final: str = "autosome",
            **strategy: object) -> ModelSpec:
    return ModelSpec(BlockSpec(first), BlockSpec(core), BlockSpec(final),
                     StrategySpec(**strategy))


def test_unknown_block_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown core block 'transformer' \\(known core "
                                          "blocks: autosome, bhi, camformers, unlockdna\\)"):
        compose(spec_of(core="transformer"))


def test_unknown_param_names_block_and_lists_params() -> None:
    spec = get_preset("dream-rnn").with_overrides(["core.hiden=64"])
    with pytest.raises(ConfigError, match="core block 'bhi' has no parameter 'hiden' "
                                          "\\(parameters: hidden, channels"):
        compose(spec)


def test_bad_type_names_the_field() -> None:
    with pytest.raises(ConfigError, match="first.channels of 'bhi': cannot read 'wide'"):
        compose(get_preset("dream-cnn").with_overrides(["first.channels=wide"]))


@pytest.mark.parametrize("role,name,params,message", [
    ("core", "unlockdna", {"d_model": 100, "n_heads": 8}, "d_model 100 is not divisible by "
                                                          "n_heads 8"),
    ("core", "autosome", {"block_sizes": "[64, 0]"}, "block_sizes must be a non-empty list"),
    ("core", "autosome", {"se_type": "fancy"}, "se_type 'fancy' is not one of simple, bilinear"),
    ("core", "bhi", {"channels": 321}, "channels 321 is not divisible"),
    ("core", "camformers", {"pool_sizes": [2, 2]}, "pool_sizes \\(2, 2\\) must give one pool"),
    ("first", "bhi", {"dropout": 1.5}, "dropout must be in \\[0, 1\\)"),
    ("final", "bhi", {"hidden": 0}, "hidden must be >= 1"),
])
def test_invalid_values(role: str, name: str, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{role} block '{name}': {message}"):
        make_config(role, name, params)


def test_incompatible_combination_names_both_parts() -> None:
    # Pooling 2 x 2 x 2 needs 8 positions; the input has 6.
    spec = with_width(spec_of(core="camformers", final="bhi", encoding="bhi"), "tiny")
    with pytest.raises(ConfigError, match="core block 'camformers' after first block 'bhi' "
                                          "\\(input features \\(16, 6\\)\\) does not fit: "
                                          "input length 6 is shorter"):
        compose(spec, input_shape=Shape("features", 4, 6))


def test_unknown_strategy_parts() -> None:
    with pytest.raises(ConfigError, match="unknown strategy.target 'focal'"):
        compose(ModelSpec(BlockSpec("bhi"), BlockSpec("bhi"), BlockSpec("bhi"),
                          StrategySpec(target="focal")))
    with pytest.raises(ConfigError, match="unknown input kind 'image'"):
        compose(spec_of(), input_shape=Shape("image", 3, 32))


@pytest.mark.parametrize("role,name", BLOCKS)
def test_tiny_params_are_valid_configs(role: str, name: str) -> None:
    tiny = tiny_params(role, name)
    config = make_config(role, name, tiny)
    assert {k: getattr(config, k) for k in tiny} == tiny  # every tiny value is taken as given


def test_published_defaults() -> None:
    """Block defaults are the Prix Fixe port's (the challenge entries' settings: presets.py)."""
    assert make_config("first", "autosome", {}).channels == 256
    bhi = make_config("first", "bhi", {})
    assert (bhi.channels, bhi.kernel_sizes) == (160, (9, 15))
    unlock = make_config("first", "unlockdna", {})
    assert (unlock.kmer, unlock.n_pseudo) == (3, 8)
    assert make_config("core", "autosome", {}).block_sizes == (128, 128, 64, 64, 64, 64)
    assert make_config("core", "bhi", {}).hidden == 320
    core = make_config("core", "unlockdna", {})
    assert (core.d_model, core.n_heads, core.n_blocks, core.kernel_size) == (512, 4, 4, 15)
    cam = make_config("core", "camformers", {})
    assert (cam.channels, cam.kernel_size, 2 * cam.n_blocks) == (512, 10, 6)
    assert make_config("final", "camformers", {}).hidden == 256
    assert make_config("final", "bhi", {}).hidden == 64


def test_wrong_input_shape_at_run_time_is_reported() -> None:
    model = compose(with_width(spec_of(encoding="bhi"), "tiny"))
    batch = example_batch(Shape("features", 6, 150), 1, 2)
    with pytest.raises(ValueError, match="expected \\(batch, \\*\\(4, 110\\)\\)"):
        model(batch)
    assert torch.isfinite(model.eval()(example_batch(model.input_shape, 1, 2))).all()
