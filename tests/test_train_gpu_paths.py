"""The GPU options of the Trainer (what `benchmarks/bench_train.py` compares on a GPU: bf16
autocast, length-major "channels last" inputs, `torch.compile`) run on CPU and train the same
model, so the GPU path is exercised even where no GPU is lent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.training.trainer import Trainer
from tests.train_support import tiny_spec


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gpu-paths") / "sim"
    simulate(out, 800, seed=0)
    return out


def trained(sim: Path, **options: object) -> tuple[dict[str, torch.Tensor], float]:
    """Weights and last training loss after one epoch of 3 batches of the tiny DREAM-CNN."""
    trainer = Trainer(tiny_spec(), sim, seed=0, device="cpu", log=lambda _m: None,
                      **options)  # type: ignore[arg-type]
    loss = float(trainer.train_epoch()["train_loss"])
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, loss


@pytest.fixture(scope="module")
def fp32(sim: Path) -> tuple[dict[str, torch.Tensor], float]:
    """The plain fp32 eager run every option is compared with (trained once)."""
    return trained(sim)


def test_length_major_inputs_train_the_same_weights(
        sim: Path, fp32: tuple[dict[str, torch.Tensor], float]) -> None:
    base, base_loss = fp32
    other, loss = trained(sim, channels_last=True)
    assert loss == pytest.approx(base_loss, rel=1e-4)
    for key, value in base.items():
        assert torch.allclose(other[key].float(), value.float(), atol=1e-4), key


def test_bf16_autocast_trains_close_to_fp32(
        sim: Path, fp32: tuple[dict[str, torch.Tensor], float]) -> None:
    _, base_loss = fp32
    weights, loss = trained(sim, amp=True)
    assert all(torch.isfinite(w.float()).all() for w in weights.values())
    assert loss == pytest.approx(base_loss, rel=0.05)  # bf16 keeps ~3 significant digits


def test_compiled_step_trains_close_to_eager(
        sim: Path, fp32: tuple[dict[str, torch.Tensor], float]) -> None:
    _, base_loss = fp32
    _, loss = trained(sim, compile=True)
    assert loss == pytest.approx(base_loss, rel=1e-2)  # fused kernels round differently
