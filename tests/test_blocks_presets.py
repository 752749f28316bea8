"""Presets: published parameter counts and strategies; tiny versions train."""

from __future__ import annotations

import pytest
import torch

from prixfixe_blocks.blocks.compose import compose, count_parameters, example_batch
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.presets import (
    PRESETS,
    PUBLISHED_PARAMETERS,
    challenge_block,
    get_preset,
    preset_names,
    with_width,
)
from prixfixe_blocks.spec import ModelSpec

torch.set_num_threads(2)


def test_preset_names() -> None:
    assert preset_names() == sorted(["dream-cnn", "dream-rnn", "dream-attn", "autosome", "bhi",
                                     "unlockdna", "camformers", "autosome-port", "bhi-port",
                                     "unlockdna-port"])


@pytest.mark.parametrize("name", [n for n, p in PUBLISHED_PARAMETERS.items() if p])
def test_preset_matches_its_published_parameter_count(name: str) -> None:
    count = count_parameters(compose(get_preset(name)))
    published = PUBLISHED_PARAMETERS[name]
    print(f"{name}: {count:,} parameters (published ~{published:,}, {count / published - 1:+.1%})")
    assert abs(count / published - 1) <= 0.05


def test_dream_models_use_the_autosome_strategy_and_head() -> None:
    for name in ("dream-cnn", "dream-rnn", "dream-attn"):
        spec = get_preset(name)
        assert spec.final.name == "autosome"
        s = spec.strategy
        assert (s.encoding, s.target, s.rc, s.optimizer) == ("autosome", "softbin", "augment",
                                                             "adamw_onecycle")
        assert (s.batch_size, s.epochs, s.batches_per_epoch) == (1024, 80, 1000)
    assert get_preset("dream-cnn").strategy.lr == 0.005
    assert get_preset("dream-attn").strategy.lr == 0.001
    # port blocks: the BHI first block's defaults are the port's 160 channels per kernel
    assert get_preset("dream-rnn").first.params == {}


def test_team_strategies() -> None:
    bhi = get_preset("bhi").strategy
    assert (bhi.encoding, bhi.target, bhi.rc, bhi.lr, bhi.batch_size, bhi.epochs) == (
        "bhi", "huber", "both", 0.0015, 512, 15)
    unlock = get_preset("unlockdna").strategy
    assert (unlock.encoding, unlock.target, unlock.optimizer) == ("unlockdna", "mse",
                                                                  "adam_warmup")
    assert unlock.mask_fraction > 0 and unlock.grad_clip == 1.0
    # the schedule's peak d^-0.5 * warmup^-0.5 (d_model 512, 12,500 warm-up steps)
    assert unlock.lr == pytest.approx(512 ** -0.5 * 12_500 ** -0.5)
    assert unlock.warmup_steps == 12_500
    cam = get_preset("camformers")
    assert (cam.core.name, cam.final.name, cam.strategy.encoding) == ("camformers",
                                                                      "camformers", "bhi")
    assert cam.strategy.target in ("huber", "mse")


def test_team_presets_are_the_challenge_entries_and_port_presets_the_port() -> None:
    for team in ("autosome", "bhi", "unlockdna"):
        entry, port = get_preset(team), get_preset(f"{team}-port")
        for role in ("first", "core", "final"):
            assert entry.block(role) == challenge_block(role, team)
            assert port.block(role).params == {}  # block defaults are the port's
    first = get_preset("unlockdna").first.params
    assert (first["kmer"], first["n_pseudo"]) == (10, 32)
    assert get_preset("bhi").first.params == {"channels": 256}
    masks = {name: get_preset(name).strategy.mask_fraction for name in ("unlockdna",
                                                                         "unlockdna-port")}
    assert masks == {"unlockdna": 0.05, "unlockdna-port": 0.2}


def test_presets_round_trip_through_the_flat_form() -> None:
    for spec in PRESETS.values():
        assert ModelSpec.from_flat(spec.to_flat()) == spec


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_tiny_preset_trains(name: str) -> None:
    spec = with_width(get_preset(name), "tiny")
    assert spec.strategy == get_preset(name).strategy
    model = compose(spec)
    assert count_parameters(model) < 100_000
    batch = example_batch(model.input_shape, 1, 2, mask_fraction=spec.strategy.mask_fraction)
    loss, _ = model.training_step(batch)
    loss.backward()
    assert torch.isfinite(loss)


def test_with_width_keeps_the_non_width_params() -> None:
    spec = with_width(get_preset("autosome"), "tiny")
    assert spec.core.params["se_type"] == "bilinear"
    assert spec.core.params["block_sizes"] == (16, 8)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'legnet' \\(presets: autosome, "
                                          "autosome-port, bhi"):
        get_preset("legnet")
