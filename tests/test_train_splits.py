"""Training never reads test rows: changing every test label leaves the trained weights
bit-identical, while the same change on trainable rows does not; validation uses the val split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from prixfixe_blocks.data.format.splits import FIT, TEST
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.training.trainer import Trainer
from search.cli import main as cli_main
from tests.train_support import tiny_spec

torch.set_num_threads(2)
N_ROWS = 900


@pytest.fixture(scope="module")
def source(shared_data: Path) -> tuple[list[str], np.ndarray]:
    lines = (shared_data / "dream" / "train_sample.txt").read_text().splitlines()[:N_ROWS]
    seqs, labels = zip(*(line.split("\t") for line in lines), strict=True)
    return list(seqs), np.array(labels, float)


def make_dataset(out: Path, seqs: list[str], labels: np.ndarray, splits: list[str],
                 plasmid: Path) -> Path:
    """A TSV with a split column, converted with --split-col (the user's path)."""
    src = out.with_suffix(".tsv")
    src.write_text("sequence\texpression\tpart\n" + "".join(
        f"{s}\t{y!r}\t{p}\n" for s, y, p in zip(seqs, labels.tolist(), splits, strict=True)))
    assert cli_main(["data", "convert", str(src), "--format", "tsv", "--sequence-col",
                     "sequence", "--target-cols", "expression", "--split-col", "part",
                     "--plasmid", str(plasmid), "--folds", "5", "--out", str(out)]) == 0
    return out


def train(data: Path) -> tuple[dict[str, torch.Tensor], np.ndarray, Trainer]:
    """Two short epochs of a tiny model on CPU, fixed seed: weights and validation predictions."""
    trainer = Trainer(tiny_spec(batch_size=32, epochs=2, batches_per_epoch=3), data, seed=0,
                      device="cpu", log=lambda _: None)
    for _ in range(2):
        trainer.train_epoch()
    pred, _ = trainer.predict_validation()
    return trainer.model.state_dict(), pred, trainer


def identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("with_val", [True, False], ids=["val-split", "hash-fold-val"])
def test_test_labels_never_reach_training(source, plasmid_path: Path, tmp_path: Path,
                                          with_val: bool) -> None:
    seqs, labels = source
    part = np.array(["test", "val" if with_val else "train"] + ["train"] * 8)[
        np.arange(N_ROWS) % 10]
    test = part == "test"
    rng = np.random.default_rng(1)
    new_test = np.where(test, rng.uniform(0, 40, N_ROWS), labels)  # also beyond the bin range
    base = make_dataset(tmp_path / "base", seqs, labels, part.tolist(), plasmid_path)
    changed = make_dataset(tmp_path / "changed", seqs, new_test, part.tolist(), plasmid_path)
    w_base, p_base, trainer = train(base)
    w_changed, p_changed, _ = train(changed)
    assert identical(w_base, w_changed)
    assert np.array_equal(p_base, p_changed)  # validation saw no test row either
    assert trainer.validation == ("split 'val'" if with_val else "split 'train', folds [0]")
    # the check can fail: the same kind of change on the training rows changes the weights
    new_train = np.where(part == "train", 17.0 - labels, labels)
    w_train, _, _ = train(make_dataset(tmp_path / "train", seqs, new_train, part.tolist(),
                                       plasmid_path))
    assert not identical(w_base, w_train)
    if with_val:
        return
    # ... and so does the test-label change itself once those rows are not held out
    open_part = np.where(test, "train", part).tolist()
    w_open, _, _ = train(make_dataset(tmp_path / "open", seqs, labels, open_part, plasmid_path))
    w_open_changed, _, _ = train(make_dataset(tmp_path / "open2", seqs, new_test, open_part,
                                              plasmid_path))
    assert not identical(w_open, w_open_changed)


def test_validation_reads_exactly_the_val_split(source, plasmid_path: Path,
                                                tmp_path: Path) -> None:
    seqs, labels = source
    part = [("test", "val", "train", "train")[i % 4] for i in range(N_ROWS)]
    data = make_dataset(tmp_path / "d", seqs, labels, part, plasmid_path)
    trainer = Trainer(tiny_spec(batch_size=32), data, val_folds=(1, 2), seed=0, device="cpu",
                      log=lambda _: None)

    def seen(loader) -> list[str]:
        return sorted(s for b in loader.epoch(0) for s in b.column("sequence").to_pylist())

    of = {k: sorted(s for s, p in zip(seqs, part, strict=True) if p == k) for k in set(part)}
    assert seen(trainer.val_loader) == of["val"]  # the val split, whatever --val-folds says
    assert trainer.train_loader.n_rows == len(of["train"])
    every_train_batch = {s for e in range(4) for b in trainer.train_loader.epoch(e)
                         for s in b.column("sequence").to_pylist()}
    assert every_train_batch <= set(of["train"]) and not every_train_batch & set(of["test"])


def test_a_refit_trains_on_train_and_val_and_never_on_test(source, plasmid_path: Path,
                                                           tmp_path: Path) -> None:
    seqs, labels = source
    part = np.array(["test", "val"] + ["train"] * 8)[np.arange(N_ROWS) % 10]
    new_test = np.where(part == "test", 40.0 - labels, labels)
    base = make_dataset(tmp_path / "base", seqs, labels, part.tolist(), plasmid_path)
    changed = make_dataset(tmp_path / "changed", seqs, new_test, part.tolist(), plasmid_path)

    def refit(data: Path) -> tuple[dict[str, torch.Tensor], Trainer]:
        trainer = Trainer(tiny_spec(batch_size=32, epochs=2, batches_per_epoch=3), data,
                          part=FIT, seed=0, device="cpu", log=lambda _: None)
        for _ in range(2):
            trainer.train_epoch()
        return trainer.model.state_dict(), trainer

    weights, trainer = refit(base)
    assert trainer.train_loader.n_rows == int(np.sum(part != "test")) < N_ROWS
    assert not trainer.validates and trainer.val_loader is None
    with pytest.raises(ConfigError, match="no validation rows"):
        trainer.evaluate()
    assert identical(weights, refit(changed)[0])
    with pytest.raises(ConfigError, match="not 'test'"):
        Trainer(tiny_spec(), base, part=TEST, device="cpu", log=lambda _: None)
