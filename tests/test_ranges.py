"""Search ranges declared beside config fields: widths, constraints, one distribution per name."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import pytest

from prixfixe_blocks.blocks.registry import block_names, get_block, width_params
from prixfixe_blocks.param_names import ROLES, STRATEGY, ParamName
from prixfixe_blocks.ranges import (
    WIDTHS,
    Around,
    Floats,
    Widths,
    check_declarations,
    distributions,
    param,
    values_at_width,
)
from spaces import check_space, config_to_spec, load_space
from spaces.prixfixe import PrixfixeSpace

RUN = {"strategy.epochs": 2}
BUILTIN = ("prixfixe", "prixfixe-grid")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("space", BUILTIN)
def test_every_builtin_space_passes_the_launch_check_at_every_width(space: str, width: str
                                                                    ) -> None:
    """Width scaling respects every field's constraints (e.g. d_model % n_heads)."""
    n = 8
    for seed in (0, 1, 2):
        checked = check_space(load_space(space, width=width), overrides=RUN, seed=seed, n=n,
                              grid=space == "prixfixe-grid")
        assert checked == n


@pytest.mark.parametrize("width", WIDTHS)
def test_every_block_config_is_valid_at_every_width(width: str) -> None:
    for role in ROLES:
        for name in block_names(role):
            config_cls = get_block(role, name).config_cls
            values = values_at_width(config_cls, width)
            config = config_cls(**values)
            assert {k: getattr(config, k) for k in values} == values, (role, name)
            if width == "published":  # the published width is exactly the defaults
                assert config == config_cls(), (role, name)


def test_unlockdna_core_widths_keep_d_model_divisible_by_heads() -> None:
    config_cls = get_block("core", "unlockdna").config_cls
    for width in WIDTHS:
        values = values_at_width(config_cls, width)
        assert values["d_model"] % values["n_heads"] == 0, (width, values)
        dist = distributions(config_cls, width)["d_model"]
        assert dist.step % values["n_heads"] == 0 and dist.low % values["n_heads"] == 0
    assert width_params("core", "unlockdna", "small")["d_model"] == 88  # sqrt(16*512)=91 -> 88
    assert width_params("core", "unlockdna", "published") == {}


def test_each_sampled_name_has_exactly_one_distribution() -> None:
    """Fields are named by role and block, so two blocks never share a name."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0),
                                direction="maximize")
    space = PrixfixeSpace(width="small")
    for _ in range(80):
        trial = study.ask()
        space(trial)
        study.tell(trial, 0.0)
    seen: dict[str, set[str]] = {}
    for trial in study.trials:
        for name, dist in trial.distributions.items():
            seen.setdefault(name, set()).add(repr(dist))
    assert {name for name, dists in seen.items() if len(dists) > 1} == set()
    assert "core.camformers.channels" in seen and "first.bhi.channels" in seen
    names = [ParamName.parse(name) for name in seen]
    assert all(n is not None and (n.block or n.field is None or n.role == STRATEGY)
               for n in names)  # every block field under its search name, none by spec key


def test_config_to_spec_keeps_only_the_chosen_blocks_fields() -> None:
    config = {"first": "bhi", "first.bhi.channels": 24, "first.autosome.channels": 99,
              "core": "bhi", "core.bhi.hidden": 16, "core.hidden": 32,  # a plain key wins
              "final": "autosome"}
    spec = config_to_spec(config)
    assert spec.first.params == {"channels": 24}
    assert spec.core.params == {"hidden": 32}


def test_a_plain_fix_pins_the_qualified_name_too() -> None:
    space = load_space("prixfixe", width="tiny", fixed={"core": "bhi", "core.hidden": 24})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    config = {**space(trial), **trial.params}
    assert "core.bhi.hidden" not in trial.params  # not sampled: pinned
    assert config_to_spec(config).core.params["hidden"] == 24


@dataclass(frozen=True)
class _SearchedHeads:
    heads: int = param(4, search=Around(1))
    width: int = param(64, search=Widths(), tiny=8, multiple_of="heads")


@dataclass(frozen=True)
class _BadTiny:
    rate: float = param(0.1, search=Floats(0.0, 0.5), tiny=2.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {self.rate}")


def test_declarations_that_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple_of 'heads' must be a field that is not"):
        check_declarations(_SearchedHeads)
    with pytest.raises(ValueError, match="rate must be in"):
        check_declarations(_BadTiny)
