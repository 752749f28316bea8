"""The built-in spaces: the paper's grid, the full space, pinning, widths and the launch check."""

from __future__ import annotations

import pickle

import pytest

from prixfixe_blocks.blocks.registry import make_config
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import ParamName
from prixfixe_blocks.presets import get_preset
from prixfixe_blocks.spec import ROLES, ModelSpec
from search.record.mlflow_utils import flat_params
from spaces import check_space, config_to_spec, grid_size, load_space, parse_fixes, sample_configs
from spaces.prixfixe import TEAMS, block_distributions
from tests.spec_support import tiny_params

RUN = {"strategy.epochs": 2}


def test_grid_enumerates_all_81_combinations_at_tiny_width() -> None:
    space = load_space("prixfixe-grid", width="tiny")
    assert grid_size(space) == 81
    configs = sample_configs(space, 500, grid=True)
    combos = {(c["strategy"], c["first"], c["core"], c["final"]) for c in configs}
    assert len(configs) == 81 and len(combos) == 81
    assert {c[0] for c in combos} == set(TEAMS)
    bhi_first = config_to_spec(next(c for c in configs if c["first"] == "bhi"))
    assert bhi_first.first.params["channels"] == tiny_params("first", "bhi")["channels"]
    # the bundle carries the team's whole strategy, e.g. BHI's learning rate and target
    bhi = next(c for c in configs if c["strategy"] == "bhi")
    assert (bhi["strategy.encoding"], bhi["strategy.target"]) == ("bhi", "huber")
    assert "strategy.epochs" not in bhi  # set by the run, not the bundle


def test_grid_is_the_prix_fixe_ports_experiment() -> None:
    """Port blocks and strategies: the grid's DREAM combinations are the DREAM presets (One
    Cycle's max lr 0.001 with an attention core) and Unlock_DNA's bundle masks 20% of bases."""
    configs = sample_configs(load_space("prixfixe-grid"), 500, grid=True)
    by_blocks = {(c["strategy"], c["first"], c["core"], c["final"]): c for c in configs}
    for preset in ("dream-cnn", "dream-rnn", "dream-attn"):
        spec = get_preset(preset)
        config = by_blocks[("autosome", *(spec.block(role).name for role in ROLES))]
        core_width = {f"core.{k}": v for k, v in spec.core.params.items()}  # dream-attn's 256
        assert config_to_spec(config, core_width) == spec
    unlock = by_blocks[("unlockdna", "unlockdna", "unlockdna", "unlockdna")]
    assert unlock["strategy.mask_fraction"] == 0.2 != get_preset("unlockdna").strategy.mask_fraction
    assert by_blocks[("autosome", "unlockdna", "bhi", "bhi")]["strategy.lr"] == 0.005


def test_fix_pins_a_choice_and_shrinks_the_grid() -> None:
    fixed = parse_fixes(["core=bhi", "lr=0.002"])
    assert fixed == {"core": "bhi", "strategy.lr": 0.002}
    space = load_space("prixfixe-grid", width="tiny", fixed=fixed)
    assert "core" not in space.grid() and grid_size(space) == 27
    configs = sample_configs(space, 100, grid=True)
    assert len(configs) == 27
    assert all(c["core"] == "bhi" and c["strategy.lr"] == 0.002 for c in configs)
    assert all(config_to_spec(c).core.params["hidden"] == tiny_params("core", "bhi")["hidden"]
               for c in configs)


def test_fix_rejects_malformed_items() -> None:
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_fixes(["core"])


def test_full_space_samples_conditional_block_params() -> None:
    space = load_space("prixfixe", width="tiny")
    configs = sample_configs(space, 40, seed=3)
    for config in configs:
        for role in ("first", "core", "final"):
            own = set(block_distributions(role, config[role], "tiny"))
            sampled = {k for k in config
                       if (name := ParamName.parse(k)) and name.block == config[role]
                       and name.role == role}
            assert own and own <= sampled, (role, config[role])
        spec = config_to_spec(config, RUN)
        assert spec.strategy.epochs == 2
    assert len({c["core"] for c in configs}) >= 3
    assert len({c["strategy.optimizer"] for c in configs}) >= 2
    lrs = [c["strategy.lr"] for c in configs]
    assert 1e-4 <= min(lrs) and max(lrs) <= 1e-2


def test_full_space_starts_from_the_dream_presets_at_the_chosen_width() -> None:
    points = load_space("prixfixe", width="tiny").points()
    blocks = {(p["first"], p["core"], p["final"]) for p in points}
    assert blocks == {("bhi", "autosome", "autosome"), ("bhi", "bhi", "autosome"),
                      ("autosome", "unlockdna", "autosome")}
    assert all(p[f"first.{p['first']}.channels"] == tiny_params("first", p["first"])["channels"]
               for p in points)
    # the first sampled configurations are exactly those presets
    first = sample_configs(load_space("prixfixe", width="tiny"), 3)
    assert {(c["first"], c["core"], c["final"]) for c in first} == blocks


def test_small_width_sits_between_tiny_and_published() -> None:
    config = sample_configs(load_space("prixfixe-grid", width="small",
                                       fixed={"first": "bhi"}), 1, grid=True)[0]
    channels = config_to_spec(config).first.params["channels"]
    assert tiny_params("first", "bhi")["channels"] < channels < 160


def test_spaces_pickle_by_reference_and_sample_the_same() -> None:
    space = load_space("prixfixe", width="tiny", fixed={"core": "bhi"})
    clone = pickle.loads(pickle.dumps(space))
    assert sample_configs(clone, 4, seed=1) == sample_configs(space, 4, seed=1)


def test_full_space_passes_the_launch_check() -> None:
    assert check_space(load_space("prixfixe", width="tiny"), overrides=RUN, seed=0) == 16


def test_grid_passes_the_launch_check() -> None:
    # the Unlock_DNA bundle (tokens, rc "none", adam_warmup) with every first block
    space = load_space("prixfixe-grid", width="tiny", fixed={"strategy": "unlockdna"})
    assert check_space(space, overrides=RUN, grid=True) == 16


def test_unknown_space_and_width_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown space 'nope'"):
        load_space("nope")
    with pytest.raises(ConfigError, match="unknown width"):
        load_space("prixfixe", width="huge")
    with pytest.raises(ConfigError, match="space file not found"):
        load_space("missing.yaml")


def test_a_sampled_value_travels_space_to_spec_to_mlflow_to_block_config() -> None:
    """Each value a trial samples under a search name (`core.bhi.channels`) is logged to MLflow
    under its spec key (`core.channels`) and, read back from those strings, is the block
    config's field (`channels`): the names ParamName gives at each step."""
    travelled = 0
    for config in sample_configs(load_space("prixfixe", width="tiny"), 12, seed=5):
        logged = flat_params(config_to_spec(config, RUN))
        read_back = ModelSpec.from_flat(logged)
        for key, value in config.items():
            name = ParamName.parse(key)
            if name is None or name.field is None:
                continue
            if name.role == "strategy":
                assert name.spec_key in logged and \
                    getattr(read_back.strategy, name.field) == value, key
            elif config[name.role] == name.block:  # (another block's fields are dropped)
                assert name.spec_key in logged, key
                block = make_config(name.role, name.block, read_back.block(name.role).params)
                assert getattr(block, name.field) == value, key
                travelled += 1
    assert travelled > 12 * 3  # every trial carries several fields of each of its three blocks
