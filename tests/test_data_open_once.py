"""A dataset is opened once: a trial parses dataset.json once, and the Trainer and every loader
it builds share that one ``Dataset`` (files, metadata, splits) instead of re-reading it."""

from __future__ import annotations

from pathlib import Path

import pytest

from prixfixe_blocks.data.format.dataset import Dataset
from prixfixe_blocks.data.format.schema import META_FILE, dataset_checksum
from prixfixe_blocks.data.format.splits import TRAIN, VAL
from prixfixe_blocks.data.read.loader import ShardLoader
from prixfixe_blocks.data.read.parts import part_rows, split_loader
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.data.store.files import DatasetFiles
from prixfixe_blocks.training.trainer import Trainer
from search.trial import trainable
from tests.train_support import tiny_spec


class SetUpDone(Exception):
    """Raised where a trial's set-up ends (before it restores a checkpoint and trains)."""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("open-once") / "data"
    simulate(out, 600, seed=0, test_rows=10, shard_rows=200)
    return out


@pytest.fixture
def meta_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every read of a dataset.json, through the one reader of dataset files."""
    reads: list[str] = []
    real = DatasetFiles.read_text

    def counting(self: DatasetFiles, name: str) -> str | None:
        if name == META_FILE:
            reads.append(self.location)
        return real(self, name)

    monkeypatch.setattr(DatasetFiles, "read_text", counting)
    return reads


@pytest.mark.filterwarnings("ignore:`get_trial_dir`:UserWarning")
@pytest.mark.parametrize("checked", [True, False], ids=["checksum", "no-checksum"])
def test_one_trial_set_up_reads_dataset_json_once(data: Path, meta_reads: list[str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  checked: bool) -> None:
    built: list[Trainer] = []

    def stop(trainer: Trainer, _work: Path) -> int:
        built.append(trainer)
        raise SetUpDone

    monkeypatch.setattr(trainable, "config_to_spec", lambda *_: tiny_spec(batch_size=32))
    monkeypatch.setattr(trainable, "_restore", stop)
    checksum = dataset_checksum(Dataset.open(data).meta) if checked else ""
    meta_reads.clear()
    settings = trainable.TrialSettings(data_dir=str(data), epochs=1, device="cpu",
                                       data_checksum=checksum)
    with pytest.raises(SetUpDone):
        trainable.train_trial({}, settings)
    assert len(meta_reads) == 1, meta_reads
    trainer = built[0]
    # the one opened dataset is what the trainer and its loaders read
    assert trainer.train_loader.meta is trainer.meta is trainer.val_loader.meta
    assert trainer.train_loader.n_rows > 0 and trainer.val_loader.n_rows > 0


def test_loaders_from_an_opened_dataset_read_the_same_rows_without_reopening(
        data: Path, meta_reads: list[str]) -> None:
    dataset = Dataset.open(data)
    assert len(meta_reads) == 1
    assert Dataset.open(dataset) is dataset
    from_object = split_loader(dataset, VAL, batch_size=64, shuffle=False)
    train_rows = part_rows(dataset, TRAIN)
    whole = ShardLoader(dataset, batch_size=64, shuffle=False)
    assert len(meta_reads) == 1  # none of the three parsed dataset.json again
    from_path = split_loader(data, VAL, batch_size=64, shuffle=False)
    assert len(meta_reads) == 2
    assert [b.to_pydict() for b in from_object] == [b.to_pydict() for b in from_path]
    assert 0 < from_object.n_rows and 0 < train_rows
    assert from_object.n_rows + train_rows == whole.n_rows  # no split column: folds only
    assert dataset.splits is None
