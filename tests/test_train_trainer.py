"""Trainer: every strategy component trains a tiny model; exact resume; checkpoint format."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.training.export import load_predictor
from prixfixe_blocks.training.model import build_model, check_spec
from prixfixe_blocks.training.trainer import Trainer
from prixfixe_blocks.training.weights import WEIGHTS_FILE
from tests.train_support import make_dream_dataset, tiny_spec

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dream_dataset(shared_data, tmp_path_factory.mktemp("train") / "ds", rows=800)


def _quiet(_: str) -> None:
    pass


@pytest.mark.parametrize("strategy", [
    {"encoding": "autosome", "target": "softbin", "rc": "augment", "optimizer": "adamw_onecycle"},
    {"encoding": "bhi", "target": "huber", "rc": "both", "optimizer": "adamw_cosine"},
    {"encoding": "unlockdna", "target": "mse", "rc": "none", "optimizer": "adam_warmup",
     "mask_fraction": 0.2},
])
def test_strategy_components_train_and_evaluate(dataset: Path, strategy: dict) -> None:
    blocks = ("unlockdna",) * 3 if strategy["encoding"] == "unlockdna" else ("bhi", "autosome",
                                                                             "autosome")
    trainer = Trainer(tiny_spec(*blocks, **strategy, epochs=1), dataset, log=_quiet)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    train = trainer.train_epoch()
    val = trainer.evaluate()
    assert trainer.epoch == 1 and np.isfinite(train["train_loss"]) and train["seqs_per_s"] > 0
    assert set(val) == {"val_pearson", "val_spearman", "val_mse"}
    assert all(np.isfinite(v) for v in val.values()) and -1 <= val["val_pearson"] <= 1
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    if strategy.get("mask_fraction"):
        assert train["train_loss_aux"] > 0.5  # cross-entropy over 4 bases starts near ln 4
    else:
        assert "train_loss_aux" not in train  # no auxiliary loss: no placeholder metric


def test_rc_both_doubles_the_batch_and_averages_strands(dataset: Path) -> None:
    trainer = Trainer(tiny_spec(rc="both", batch_size=16), dataset, log=_quiet)
    seen: list[int] = []
    step = trainer.model.training_step
    trainer._step_fn = lambda batch: (seen.append(batch["x"].shape[0]), step(batch))[1]
    trainer.train_epoch()
    assert seen == [32, 32, 32]  # 16 rows x both strands, 3 batches per epoch


def test_progress_is_logged_every_n_batches(dataset: Path) -> None:
    lines: list[str] = []
    trainer = Trainer(tiny_spec(batches_per_epoch=5), dataset, log=lines.append, log_every=2)
    trainer.train_epoch()
    trainer.evaluate()
    assert [line.split(" loss")[0] for line in lines[:2]] == ["epoch 1 batch 2/5",
                                                            "epoch 1 batch 4/5"]
    assert lines[2].startswith("epoch 1/2 train_loss") and "seq/s" in lines[2]
    assert lines[3].startswith("epoch 1 val_pearson")


def test_exact_resume_matches_uninterrupted_run(dataset: Path, tmp_path: Path) -> None:
    spec = tiny_spec(epochs=2, batches_per_epoch=4, rc="augment")
    full = Trainer(spec, dataset, seed=3, log=_quiet)
    full_metrics = [{**full.train_epoch(), **full.evaluate()} for _ in range(2)]

    first = Trainer(spec, dataset, seed=3, log=_quiet)
    part = [{**first.train_epoch(), **first.evaluate()}]
    first.save_checkpoint(tmp_path / "ckpt.pt")
    resumed = Trainer(spec, dataset, seed=3, log=_quiet)
    torch.rand(100), random.random(), resumed.rng.random(7)  # the checkpoint restores all RNGs
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    assert resumed.epoch == 1
    part.append({**resumed.train_epoch(), **resumed.evaluate()})
    drop = {"seqs_per_s"}
    assert [{k: v for k, v in m.items() if k not in drop} for m in part] == [
        {k: v for k, v in m.items() if k not in drop} for m in full_metrics]
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_checkpoint_loads_with_weights_only(dataset: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_spec(optimizer="adam_warmup"), dataset, log=_quiet)
    trainer.train_epoch()
    path = tmp_path / "ck.pt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 1 and state["batch"] == 0
    assert {"model", "optimizer", "scheduler", "rng", "spec"} <= set(state)
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left behind
    other = Trainer(tiny_spec(optimizer="adam_warmup", lr=0.1), dataset, log=_quiet)
    with pytest.raises(ConfigError, match="strategy.lr"):
        other.load_checkpoint(path)
    reseeded = Trainer(tiny_spec(optimizer="adam_warmup"), dataset, seed=1, log=_quiet)
    with pytest.raises(ConfigError, match="seed 0"):
        reseeded.load_checkpoint(path)


def test_export_and_predict_match_trainer(dataset: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_spec(encoding="bhi"), dataset, log=_quiet)
    trainer.train_epoch()
    trainer.export(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"spec.json", WEIGHTS_FILE,
                                                                "model.json"}
    pred_val, _ = trainer.predict_validation()
    seqs = next(trainer.val_loader.epoch(0)).column("sequence").to_pylist()
    predictor = load_predictor(tmp_path / "model", device="cpu")
    out = predictor.predict(seqs, batch_size=7)
    assert out.shape == (len(seqs), 1) and predictor.targets == ["expression"]
    np.testing.assert_allclose(out, pred_val[: len(seqs)], rtol=1e-5, atol=1e-5)


def test_build_model_and_check_spec(dataset: Path) -> None:
    from prixfixe_blocks.data.format.schema import open_dataset

    spec = tiny_spec("unlockdna", "unlockdna", "unlockdna", encoding="unlockdna", target="mse",
                     mask_fraction=0.2)
    n = check_spec(spec)
    assert n == sum(p.numel() for p in build_model(spec, open_dataset(dataset)).parameters())
    with pytest.raises(ConfigError, match="core block 'autosome'"):
        check_spec(tiny_spec().with_overrides(["core.no_such_param=3"]))


def test_real_training_puts_dream_labels_on_the_published_bins(dataset: Path) -> None:
    """softbin as published: a DREAM label e is bin e (0 -> 0, 11 -> 11, 17 -> 17), because
    training passes the labels' range, not only (mean, std), to the target."""
    trainer = Trainer(tiny_spec(), dataset, log=lambda _m: None)
    target = trainer.model.target
    labels = torch.tensor([[0.0], [11.0], [17.0]])
    assert torch.allclose(target.to_bins(labels), labels)
