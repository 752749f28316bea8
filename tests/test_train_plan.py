"""Heads start at the labels' distribution; the plan of a run; progress with rate and time left;
the epoch length a run's --schedule gives."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from prixfixe_blocks.blocks.base import FinalBlock
from prixfixe_blocks.blocks.compose import compose
from prixfixe_blocks.blocks.registry import block_names
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.spec import BlockSpec, ModelSpec, make_strategy
from prixfixe_blocks.strategies.strategy_spec import schedule_overrides
from prixfixe_blocks.strategies.targets import make_target
from prixfixe_blocks.training.model import build_model
from prixfixe_blocks.training.plan import (
    MIN_BUDGET_BATCH,
    MIN_STEPS_PER_PASS,
    batch_for_rows,
    format_duration,
    make_plan,
)
from prixfixe_blocks.training.progress import Progress
from prixfixe_blocks.training.trainer import Trainer
from search.cli import build_parser
from search.commands.train import train_spec
from tests.spec_support import tiny_params
from tests.train_support import make_dream_dataset, tiny_spec

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dream_dataset(shared_data, tmp_path_factory.mktemp("plan") / "ds", rows=1500)


def _quiet(_: str) -> None:
    pass


# -- the head's start ------------------------------------------------------------------------
@pytest.mark.parametrize(("blocks", "strategy"), [
    (("bhi", "autosome", "autosome"), {"target": "softbin"}),
    (("bhi", "autosome", "autosome"), {"target": "mse"}),
    (("bhi", "bhi", "bhi"), {"target": "huber", "encoding": "bhi"}),
    (("autosome", "unlockdna", "autosome"), {"target": "softbin"}),
    (("unlockdna", "unlockdna", "unlockdna"), {"target": "mse", "encoding": "unlockdna"}),
])
def test_a_fresh_model_predicts_the_label_mean(dataset: Path, blocks: tuple[str, ...],
                                               strategy: dict) -> None:
    trainer = Trainer(tiny_spec(*blocks, **strategy), dataset, log=_quiet)
    labels = trainer._training_labels()
    mean, sd = float(labels.mean()), float(labels.std())
    rows = next(iter(trainer.train_loader.epoch(0))).column("sequence")
    x = trainer.encoder.encode_sequences(rows, train=False)["x"].to(trainer.device)
    assert abs(_first_step_predictions(trainer.model, x).mean() - mean) < 0.2 * sd
    if strategy["target"] == "softbin":  # as built (uniform bins) it is far off: 9.2 vs 11.2
        built = build_model(trainer.spec, trainer.meta).to(trainer.device)
        assert abs(_first_step_predictions(built, x).mean() - mean) > 0.5 * sd


def _first_step_predictions(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """What the first training steps predict: training mode (batch statistics; the running
    statistics of a fresh model are not the data's yet), model and random state untouched."""
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    with torch.no_grad(), torch.random.fork_rng():
        model.train()
        out = model(x).float().cpu().numpy()
    for name, b in model.named_buffers():
        b.copy_(buffers[name])
    return out


def test_softbin_head_bias_is_the_log_binned_label_distribution() -> None:
    target = make_target("softbin", 1, [(11.0, 2.0, 0.0, 17.0)])
    labels = torch.tensor([[3.0], [3.0], [12.0], [12.0]])  # bin centres: half in 3, half in 12
    dist = target.head_bias(labels).exp()
    assert dist.shape == (18,) and torch.isclose(dist.sum(), torch.tensor(1.0), atol=1e-4)
    assert dist[3] == pytest.approx(dist[12]) and dist[3] > 0.3 and dist[0] < 1e-3
    mse = make_target("mse", 1, [(11.0, 2.0)])
    assert float(mse.head_bias(labels)) == pytest.approx((7.5 - 11.0) / 2.0)


@pytest.mark.parametrize("final", block_names("final"))
@pytest.mark.parametrize("target", ["softbin", "mse"])
def test_every_final_block_exposes_its_output_bias(final: str, target: str) -> None:
    strategy = make_strategy({"encoding": "autosome", "target": target})
    spec = ModelSpec(BlockSpec("bhi", tiny_params("first", "bhi")),
                     BlockSpec("autosome", tiny_params("core", "autosome")),
                     BlockSpec(final, {**tiny_params("final", final), "hidden": 18}
                               if final in ("bhi", "camformers") else tiny_params("final", final)),
                     strategy)
    model = compose(spec)
    bias = model.final.output_bias()
    assert bias is not None and bias.numel() == model.target.n_outputs
    labels = torch.full((10, 1), 12.0)
    assert model.init_head(labels)
    assert torch.allclose(bias.detach(), model.target.head_bias(labels))


class _NoBiasFinal(FinalBlock):
    """A head whose last layer has no bias: it starts as built."""

    def __init__(self, in_shape: Shape) -> None:
        super().__init__(None, in_shape, make_target("mse"))
        self.out = nn.Linear(in_shape.channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(x.mean(-1))


def test_a_head_without_an_output_bias_is_left_as_built() -> None:
    block = _NoBiasFinal(Shape("features", 4, 10))
    assert block.output_bias() is None and not block.init_head(torch.ones(3, 1))


# -- the plan and progress ---------------------------------------------------------------------
def test_plan_says_batches_sequences_passes_and_epochs() -> None:
    one = make_plan(6370, 1024, None, 2)
    assert (one.batches, one.sequences, one.total_sequences) == (7, 6370, 12740)
    assert one.describe() == ("epoch = 7 batches x 1,024 = 6,370 sequences = 1 pass over "
                              "6,370 training rows; 2 epochs (12,740 sequences)")
    published = make_plan(6370, 1024, 1000, 2)
    assert published.sequences == 1_024_000 and round(published.passes, 2) == 160.75
    assert "160.75 passes" in published.describe()
    with pytest.raises(ConfigError):
        make_plan(0, 1024, None, 1)
    assert [format_duration(s) for s in (5, 3725, 90_061, float("nan"))] == [
        "00:05", "01:02:05", "1d 01:01:01", "?"]


def test_trainer_plan_drives_the_lr_schedule(dataset: Path) -> None:
    trainer = Trainer(tiny_spec(batches_per_epoch=None, batch_size=100, epochs=3), dataset,
                      log=_quiet)
    assert trainer.plan.one_pass and trainer.plan.rows == trainer.train_loader.n_rows
    assert trainer.total_steps == 3 * len(trainer.train_loader) == 3 * trainer.plan.batches


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_off_a_terminal_every_interval_with_rate_and_time_left() -> None:
    clock, out = _Clock(), io.StringIO()
    progress = Progress(make_plan(100, 10, None, 2), stream=out, tty=False, every=10.0,
                        clock=clock)
    progress.batch(1, 0, 0)
    for batch in range(1, 11):
        clock.now = batch * 3.0  # 10 sequences per 3 s
        progress.batch(1, batch, batch * 10)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # at 12 s and 24 s (10 s apart or more), and the epoch's last batch
    assert lines[0].startswith("epoch 1/2 4/10 batches, ")
    assert "3.3 seq/s" in lines[0] and "epoch left 00:18" in lines[0]  # 60 rows at 10/3 per s
    assert "run left 00:48" in lines[0]  # 160 of 200 sequences left, 40 done in 12 s
    progress.log("epoch 1/2 train_loss 1.0 [not markup]")
    assert out.getvalue().endswith("epoch 1/2 train_loss 1.0 [not markup]\n")
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()  # CI logs stay plain


def _plain(text: str) -> str:
    """Terminal output without its colours and cursor moves."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_progress_on_a_terminal_draws_a_rich_bar_per_epoch_and_logs_above_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    clock, out = _Clock(), io.StringIO()
    progress = Progress(make_plan(100, 10, None, 2), stream=out, tty=True, clock=clock)
    progress.batch(1, 0, 0)
    clock.now = 1.0
    progress.batch(1, 1, 10)
    clock.now = 1.1
    progress.batch(1, 2, 20)  # within REDRAW_EVERY_S: not redrawn
    clock.now = 2.0
    progress.batch(1, 3, 30)
    progress.log("message")
    running = out.getvalue()
    assert "\x1b[?25l" in running and "\x1b[?25h" not in running  # a live bar, cursor hidden
    text = _plain(running)
    assert "epoch 1/2" in text and "1/10 batches, 10 seq/s" in text
    assert "3/10 batches, 15 seq/s" in text and "2/10" not in text and "message\n" in text
    assert "run left 00:11" in text  # 170 of 200 sequences left, 30 done in 2 s
    clock.now = 5.0
    progress.batch(1, 10, 100)  # the epoch's last batch: the bar stops, the cursor is back
    done = out.getvalue()[len(running):]
    assert "10/10 batches" in _plain(done) and done.endswith("\x1b[?25h")
    progress.batch(2, 0, 0)
    clock.now = 6.0
    progress.batch(2, 1, 10)
    assert "epoch 2/2" in out.getvalue()[len(running) + len(done):]


# -- the schedule --------------------------------------------------------------------------------
def test_schedule_overrides_give_the_epoch_length() -> None:
    assert schedule_overrides("pass") == {"strategy.batches_per_epoch": None}
    assert schedule_overrides("published") == {}
    assert schedule_overrides("published", 5) == {"strategy.batches_per_epoch": 5}
    with pytest.raises(ConfigError, match="unknown schedule 'fast'"):
        schedule_overrides("fast")


@pytest.mark.parametrize(("flags", "expected"), [
    ([], None), (["--schedule", "published"], 1000), (["--batches-per-epoch", "7"], 7),
])
def test_train_defaults_to_one_pass_per_epoch(flags: list[str], expected: int | None) -> None:
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", *flags])
    assert train_spec(args).strategy.batches_per_epoch == expected


@pytest.mark.parametrize(("rows", "batch", "expected"), [
    (6_700_000, 1024, 1024),  # the DREAM data the presets were sized for
    (40_000, 1024, 1024), (5_676, 1024, 128), (1_000, 1024, 32), (100, 1024, 32),
    (5_676, 64, 64),  # never larger than asked
    (1_000, 16, 16)])
def test_a_budgeted_batch_gives_each_pass_enough_steps(rows: int, batch: int,
                                                       expected: int) -> None:
    chosen = batch_for_rows(rows, batch)
    assert chosen == expected
    assert chosen == batch or rows / chosen >= MIN_STEPS_PER_PASS or chosen == MIN_BUDGET_BATCH
