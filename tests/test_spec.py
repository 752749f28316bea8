"""ModelSpec flat form, overrides and strategy validation (the contract every part relies on)."""

from __future__ import annotations

import json

import pytest

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.param_names import ParamName
from prixfixe_blocks.spec import BlockSpec, ModelSpec, StrategySpec, make_strategy
from search.cli import build_parser, main


def _spec() -> ModelSpec:
    return ModelSpec(
        BlockSpec("bhi", {"channels": 160}), BlockSpec("autosome"), BlockSpec("autosome")
    )


def test_flat_round_trip() -> None:
    spec = _spec()
    flat = spec.to_flat()
    assert flat["first"] == "bhi" and flat["first.channels"] == 160
    assert flat["strategy.lr"] == StrategySpec().lr
    assert ModelSpec.from_flat(flat) == ModelSpec.from_flat(json.loads(spec.to_json()))


def test_overrides_coerce_and_drop_old_block_params() -> None:
    spec = _spec().with_overrides(
        ["first=autosome", "core.hidden=64", "strategy.lr=2e-3", "strategy.batches_per_epoch=none"]
    )
    flat = spec.to_flat()
    assert flat["first"] == "autosome" and "first.channels" not in flat
    assert flat["core.hidden"] == 64
    assert spec.strategy.lr == pytest.approx(0.002)
    assert spec.strategy.batches_per_epoch is None
    # Same block name keeps its params.
    assert _spec().with_overrides(["first=bhi"]).first.params == {"channels": 160}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rc": "sideways"}, "unknown strategy.rc 'sideways'"),
        ({"nope": 1}, "unknown strategy field 'nope'"),
        ({"batch_size": "big"}, "strategy.batch_size: cannot read 'big'"),
        ({"batch_size": 2.5}, "strategy.batch_size: cannot read 2.5"),
        ({"lr": None}, "strategy.lr: None is not allowed"),
    ],
)
def test_bad_strategy_values_are_named(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        make_strategy(values)


def test_bad_override_and_missing_block() -> None:
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        _spec().with_overrides(["core"])
    with pytest.raises(ConfigError, match="spec names no block for: final"):
        ModelSpec.from_flat({"first": "bhi", "core": "bhi"})
    with pytest.raises(ConfigError, match="unknown spec key 'middle'"):
        ModelSpec.from_flat({"first": "bhi", "core": "bhi", "final": "bhi", "middle": 1})
    with pytest.raises(ConfigError, match="'core.bhi.hidden' is a search name.*core.hidden"):
        ModelSpec.from_flat({"first": "bhi", "core": "bhi", "final": "bhi",
                             "core.bhi.hidden": 64})


@pytest.mark.parametrize(("key", "name", "spec_key"), [
    ("core.bhi.channels", ParamName("core", "channels", "bhi"), "core.channels"),
    ("core.channels", ParamName("core", "channels"), "core.channels"),
    ("core", ParamName("core"), "core"),
    ("strategy.lr", ParamName("strategy", "lr"), "strategy.lr"),
])
def test_param_names_translate_search_name_spec_key_and_field(
        key: str, name: ParamName, spec_key: str) -> None:
    parsed = ParamName.parse(key)
    assert parsed == name and parsed.spec_key == spec_key
    assert ParamName.parse(spec_key) == ParamName(name.role, name.field)  # the block is dropped
    if name.block is not None:  # and back: role, block and field make the search name
        assert ParamName(name.role, name.field, name.block).search_name == key
    elif name.field is not None and name.role != "strategy":
        with pytest.raises(ValueError, match="needs its block"):
            _ = parsed.search_name


@pytest.mark.parametrize("key", ["middle", "middle.x", "core.bhi.channels.x", "core..x",
                                 "strategy", "strategy.a.b", ""])
def test_keys_of_no_form_are_not_param_names(key: str) -> None:
    assert ParamName.parse(key) is None


def test_every_flat_key_names_its_block_field_or_strategy_field() -> None:
    spec = _spec()
    for key, value in spec.to_flat().items():
        name = ParamName.parse(key)
        assert name is not None and name.spec_key == key
        if name.role == "strategy":
            assert getattr(spec.strategy, name.field) == value
        elif name.field is not None:
            assert spec.block(name.role).params[name.field] == value
        else:
            assert spec.block(name.role).name == value


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = [
        ["data", "convert"], ["data", "simulate"], ["data", "info"], ["train"], ["predict"],
        ["presets"], ["run"], ["resume"], ["status"], ["demo"],
    ]
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: prixfixe-search " + " ".join(command) in capsys.readouterr().out


def test_unknown_command_exits_non_zero() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
