"""User spaces from YAML and Python files; bad spaces are rejected with the bad choice named."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

from prixfixe_blocks.errors import ConfigError
from spaces import check_space, grid_size, load_space, sample_configs

RUN = {"strategy.epochs": 2}

YAML_SPACE = """
params:
  first: {choice: [bhi, autosome]}
  core: {choice: [bhi, autosome]}
  final: autosome
  lr: {float: [0.0005, 0.005], log: true}
  core.hidden: {int: [8, 32], step: 8, when: {core: bhi}}
  strategy.batch_size: 64
points:
  - {first: bhi, core: bhi, core.hidden: 16, lr: 0.001}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_yaml_space_samples_choices_ranges_conditions_and_constants(tmp_path: Path) -> None:
    space = load_space(str(write(tmp_path, "s.yaml", YAML_SPACE)), width="tiny")
    configs = sample_configs(space, 30, seed=0)
    assert configs[0]["core.hidden"] == 16 and configs[0]["strategy.lr"] == 0.001  # the point
    for config in configs:
        assert config["final"] == "autosome" and config["strategy.batch_size"] == 64
        assert 0.0005 <= config["strategy.lr"] <= 0.005
        if config["core"] == "bhi":
            assert config["core.hidden"] in (8, 16, 24, 32)
        else:
            assert "core.hidden" not in config
            assert config["core.autosome.block_sizes"] == (16, 8)  # tiny width fills the rest
    assert {c["first"] for c in configs} == {"bhi", "autosome"}
    assert check_space(space, overrides=RUN, n=4) == 4


def test_yaml_space_of_choices_is_a_grid(tmp_path: Path) -> None:
    path = write(tmp_path, "g.yml", """
        params:
          first: {choice: [bhi, autosome]}
          core: {choice: [bhi, autosome, unlockdna]}
          final: autosome
    """)
    space = load_space(str(path), width="tiny")
    assert grid_size(space) == 6
    assert len(sample_configs(space, 50, grid=True)) == 6
    with pytest.raises(ConfigError, match="--sampler grid needs"):
        grid_size(load_space(str(write(tmp_path, "s.yaml", YAML_SPACE))))


def test_python_space_loads_and_survives_pickling(tmp_path: Path) -> None:
    path = write(tmp_path, "my_space.py", """
        GRID = {"core": ["bhi", "autosome"]}

        def space(trial):
            core = trial.suggest_categorical("core", ["bhi", "autosome"])
            trial.suggest_float("strategy.lr", 1e-3, 1e-2, log=True)
            return {"first": "bhi", "final": "autosome", "strategy.batch_size": 32}
    """)
    space = load_space(str(path), width="tiny", fixed={"strategy.weight_decay": 0.05})
    clone = pickle.loads(pickle.dumps(space))
    configs = sample_configs(clone, 5, seed=2)
    assert configs == sample_configs(space, 5, seed=2)
    assert all(c["first"] == "bhi" and c["strategy.weight_decay"] == 0.05 for c in configs)
    assert grid_size(space) == 2
    assert check_space(space, overrides=RUN, n=2) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("params: [1, 2]\n", "needs a 'params:' mapping"),
    ("params: {}\nextra: 1\n", "unknown top-level key"),
    ("params:\n  core: {choice: []}\n", "parameter 'core': 'choice' needs a non-empty list"),
    ("params:\n  lr: {float: [0.1, 0.01]}\n", "parameter 'strategy.lr': 'float' needs"),
    ("params:\n  core: {choice: [bhi], int: [1, 2]}\n", "give exactly one of"),
    ("params:\n  core.hidden: {int: [8, 16], when: {core: bhi}}\n", "'when' refers to 'core'"),
    ("params:\n  core: {choice: [bhi], logg: true}\n", "unknown option(s) logg"),
    ("params: {first: [unclosed\n", "invalid YAML"),
])
def test_malformed_yaml_spaces_name_file_and_parameter(tmp_path: Path, text: str,
                                                       message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_space(str(path))
    assert message in str(err.value) and str(path) in str(err.value)


def test_space_with_an_unknown_block_fails_the_check_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", """
        params:
          first: bhi
          core: {choice: [autosome, transformerxl]}
          final: autosome
    """)
    with pytest.raises(ConfigError) as err:
        check_space(load_space(str(path), width="tiny"), overrides=RUN)
    assert "unknown core block 'transformerxl'" in str(err.value)
    assert "core=transformerxl" in str(err.value)


def test_space_with_an_unusable_hyperparameter_fails_the_check(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", """
        params:
          first: bhi
          core: camformers
          core.n_blocks: 5
          final: autosome
    """)
    with pytest.raises(ConfigError, match=r"space check: configuration 1 of 16 .*'camformers'"):
        check_space(load_space(str(path), width="tiny"), overrides=RUN)


def test_broken_python_space_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="defines no function 'space"):
        load_space(str(write(tmp_path, "empty.py", "X = 1\n")))
    with pytest.raises(ConfigError, match="importing the space failed: ZeroDivisionError"):
        load_space(str(write(tmp_path, "boom.py", "1 / 0\n")))
    path = write(tmp_path, "raises.py", """
        def space(trial):
            raise KeyError("oops")
    """)
    with pytest.raises(ConfigError, match="sampling the space failed: KeyError"):
        check_space(load_space(str(path)), overrides=RUN)
