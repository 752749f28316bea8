"""Adding a block or a strategy component is one module: a toy block and a toy target, written in
a temporary file, registered by importing it (`--plugin`), searched and trained with no other
file changed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from tests.search_support import QUICK, read_trials, run_cli, simulated_data

TOY = '''
"""A toy plugin: one core block and one target."""

from dataclasses import dataclass

from torch import Tensor, nn

from prixfixe_blocks.blocks.base import Block
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.blocks.registry import register_block
from prixfixe_blocks.ranges import Widths, param
from prixfixe_blocks.strategies.targets import TARGETS, RegressionTarget


@dataclass(frozen=True)
class ToyCoreConfig:
    width: int = param(64, search=Widths(), tiny=8)  # output channels of the 1x1 conv


@register_block("core", "toy", ToyCoreConfig)
class ToyCore(Block):
    """A 1x1 conv and a ReLU."""

    def __init__(self, config: ToyCoreConfig, in_shape: Shape) -> None:
        super().__init__(config, in_shape)
        self.net = nn.Sequential(nn.Conv1d(in_shape.channels, config.width, 1), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@TARGETS.register("toy")
class ToyTarget(RegressionTarget):
    """L1 loss on the standardized target."""

    name = "toy"

    def regression_loss(self, outputs: Tensor, z: Tensor) -> Tensor:
        return (outputs - z).abs().mean()
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plugin") / "toy_blocks.py"
    path.write_text(textwrap.dedent(TOY))
    return path


@pytest.mark.slow
def test_a_search_samples_a_plugin_block_and_offers_its_target(
        plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    data = simulated_data(tmp_path_factory)
    storage = tmp_path_factory.mktemp("runs")
    result = run_cli("run", "--data", str(data), "--space", "prixfixe", "--name", "toy",
                     "--trials", "2", "--epochs", "1", "--storage", str(storage),
                     "--plugin", str(plugin), "--fix", "core=toy", "--scheduler", "none",
                     "--no-enqueue-presets", *QUICK)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = list(read_trials(storage / "toy").values())
    assert len(records) == 2 and all(r["status"] == "FINISHED" for r in records)
    for record in records:
        assert record["config"]["core"] == "toy"
        assert 4 <= record["config"]["core.toy.width"] <= 16  # tiny 8: half to twice
    study = optuna.load_study(study_name="toy", storage=JournalStorage(
        JournalFileBackend(str(storage / "toy" / "optuna.journal"))))
    dists = study.trials[0].distributions
    assert "core.toy.width" in dists
    assert "toy" in dists["strategy.target"].choices


def test_train_uses_a_plugin_target(plugin: Path, tmp_path_factory: pytest.TempPathFactory
                                    ) -> None:
    data = simulated_data(tmp_path_factory)
    out = tmp_path_factory.mktemp("toy-train") / "model"
    result = run_cli("train", "--data", str(data), "--preset", "dream-cnn", "--plugin",
                     str(plugin), "--set", "core=toy", "--set", "core.width=8",
                     "--set", "first.channels=8", "--set", "strategy.target=toy",
                     "--epochs", "1", "--batch-size", "64", "--batches-per-epoch", "3",
                     "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    spec = json.loads((out / "spec.json").read_text())
    assert spec["core"] == "toy" and spec["strategy.target"] == "toy"


def test_without_the_plugin_the_names_are_unknown(tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    data = simulated_data(tmp_path_factory)
    result = run_cli("train", "--data", str(data), "--set", "core=toy", "--epochs", "1",
                     "--out", str(tmp_path_factory.mktemp("no-plugin") / "m"))
    assert result.returncode == 2 and "unknown core block 'toy'" in result.stderr
