"""`train` + `predict` + `presets` end to end, MLflow records, input parsing and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.blocks.registry import make_config, width_params
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.presets import get_preset, with_width
from prixfixe_blocks.ranges import WIDTHS
from prixfixe_blocks.spec import ROLES
from prixfixe_blocks.training.export import load_predictor
from prixfixe_blocks.training.model import build_model
from prixfixe_blocks.training.seqio import read_sequences
from prixfixe_blocks.training.weights import WEIGHTS_FILE
from search.cli import build_parser
from search.cli import main as cli_main
from search.commands.train import train_spec
from spaces import load_space
from spaces.prixfixe import dream_presets
from tests.train_support import make_dream_dataset

torch.set_num_threads(2)
TINY_CNN = ["--set", "first.channels=8", "--set", "core.block_sizes=[16,8]"]


@pytest.fixture(scope="module")
def trained(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    data = make_dream_dataset(shared_data, root / "ds", rows=600)
    out = root / "runs" / "model"
    code = cli_main(["train", "--data", str(data), "--preset", "dream-cnn", *TINY_CNN,
                     "--epochs", "2", "--batches-per-epoch", "3", "--batch-size", "32",
                     "--out", str(out), "--device", "cpu"])
    assert code == 0
    return {"data": data, "out": out, "root": root}


def _runs(uri: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["prixfixe-train"])


def test_train_writes_model_dir_and_mlflow(trained: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = trained["out"]
    assert {"spec.json", WEIGHTS_FILE, "model.json", "checkpoint.pt"} <= {
        p.name for p in out.iterdir()}
    meta = json.loads((out / "model.json").read_text())
    assert meta["targets"] == ["expression"] and meta["encoding"]["length"] == 150
    assert meta["encoding"]["left_flank"].endswith("TGCATTTTTTTCACATC")
    db = out.parent / "mlflow.db"
    assert db.is_file()
    runs = _runs(f"sqlite:///{db}")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["params.first"] == "bhi" and run["params.core.block_sizes"] == "[16, 8]"
    assert run["params.strategy.epochs"] == "2" and run["params.strategy.batch_size"] == "32"
    assert np.isfinite(run["metrics.val_pearson"]) and run["metrics.train_loss"] > 0
    import mlflow

    history = mlflow.MlflowClient(f"sqlite:///{db}").get_metric_history(run["run_id"],
                                                                        "val_pearson")
    assert [m.step for m in history] == [1, 2]
    best = json.loads((out / "best.json").read_text())
    assert best["val_pearson"] == pytest.approx(max(m.value for m in history))
    assert run["metrics.best_val_pearson"] == pytest.approx(best["val_pearson"])


def test_resume_continues_the_same_mlflow_run(trained: dict[str, Path]) -> None:
    out = trained["out"]
    code = cli_main(["train", "--data", str(trained["data"]), "--preset", "dream-cnn", *TINY_CNN,
                     "--epochs", "3", "--batches-per-epoch", "3", "--batch-size", "32",
                     "--out", str(out), "--device", "cpu", "--resume"])
    assert code == 2  # epochs changed: the checkpoint belongs to another spec
    code = cli_main(["train", "--data", str(trained["data"]), "--preset", "dream-cnn", *TINY_CNN,
                     "--epochs", "2", "--batches-per-epoch", "3", "--batch-size", "32",
                     "--out", str(out), "--device", "cpu", "--resume"])
    assert code == 0
    runs = _runs(f"sqlite:///{out.parent / 'mlflow.db'}")
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"


def test_predict_plain_file_in_input_order(trained: dict[str, Path], shared_data: Path) -> None:
    lines = (shared_data / "dream" / "train_sample.txt").read_text().splitlines()[1000:1040]
    seqs = [line.split("\t")[0] for line in lines]
    seqs[3] = seqs[3].lower()
    src, dst = trained["root"] / "in.txt", trained["root"] / "pred.tsv"
    src.write_text("\n".join(seqs) + "\n")
    assert cli_main(["predict", "--model", str(trained["out"]), "--input", str(src),
                     "--out", str(dst), "--batch-size", "16", "--device", "cpu"]) == 0
    rows = [r.split("\t") for r in dst.read_text().splitlines()]
    assert [r[0] for r in rows] == seqs
    preds = np.array([float(r[1]) for r in rows])
    direct = load_predictor(trained["out"], device="cpu").predict([s.upper() for s in seqs])
    np.testing.assert_allclose(preds, direct[:, 0], rtol=1e-4)
    assert preds[3] == pytest.approx(direct[3, 0], rel=1e-4)  # lower case is read as upper
    assert 0 <= preds.min() and preds.max() <= 17  # softbin expectation stays in the bin range


def test_read_sequences_detects_header_and_delimiters(tmp_path: Path) -> None:
    tsv = tmp_path / "a.tsv"
    tsv.write_text("seq\tother\nACGT\t1\nNNAC\t2\n")
    csv = tmp_path / "a.csv"
    csv.write_text("ACGT,0.5\nggca,1\n")
    assert read_sequences(tsv) == ["ACGT", "NNAC"] and read_sequences(csv) == ["ACGT", "ggca"]


@pytest.mark.parametrize("text, line, field, what", [
    ("ACGT\nACXT\n", 2, "sequence", "invalid base 'X' at position 3"),
    ("ACGT\n\nACGT\n", 2, "sequence", "empty sequence"),
    ("sequence\tlabel\nACGT\t1\nAC GT\t2\n", 3, "sequence", "invalid base ' '"),
    ("name,value\nACGT,1\n,2\n", 3, "name", "empty sequence"),
])
def test_bad_input_names_file_line_field(tmp_path: Path, text: str, line: int, field: str,
                                         what: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=what) as err:
        read_sequences(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field)


def test_predict_bad_input_exits_2_and_writes_nothing(trained: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = trained["root"] / "bad.txt", trained["root"] / "never.tsv"
    src.write_text("ACGT\nACGU\n")
    assert cli_main(["predict", "--model", str(trained["out"]), "--input", str(src),
                     "--out", str(dst)]) == 2
    assert "bad.txt, line 2, field 'sequence': invalid base 'U'" in capsys.readouterr().err
    assert not dst.exists()
    assert cli_main(["predict", "--model", str(trained["root"]), "--input", str(src),
                     "--out", str(dst)]) == 2  # not a model directory


def test_presets_lists_counts_blocks_and_components(capsys: pytest.CaptureFixture[str]) -> None:
    from search.commands import train as cli

    assert cli.cli_presets(None) == 0  # type: ignore[arg-type]
    text = capsys.readouterr().out
    assert "dream-cnn" in text and "1,933,970" in text
    assert "core   unlockdna" in text and "adam_warmup" in text


def test_non_dream_two_targets_train_and_predict(shared_data: Path, tmp_path: Path) -> None:
    """DeepSTARR (249 bp, no plasmid, two targets): N-padded encoding, one column per target."""
    source = shared_data / "drosophila" / "sample_train.txt"
    assert cli_main(["data", "convert", str(source), "--format", "deepstarr",
                     "--out", str(tmp_path / "starr"), "--folds", "4"]) == 0
    out = tmp_path / "model"
    assert cli_main(["train", "--data", str(tmp_path / "starr"), "--preset", "dream-cnn",
                     *TINY_CNN, "--set", "strategy.target=huber", "--epochs", "1",
                     "--batches-per-epoch", "2", "--batch-size", "16", "--out", str(out),
                     "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["encoding"]["length"] == 249 and meta["encoding"]["strip_left"] == 0
    rows = source.read_text().splitlines()[:6]  # header + 5 rows; sequence is column 6
    src = tmp_path / "in.csv"
    src.write_text("\n".join(",".join([r.split("\t")[5], "x"]) for r in rows[1:]) + "\n")
    dst = tmp_path / "pred.tsv"
    assert cli_main(["predict", "--model", str(out), "--input", str(src), "--out", str(dst)]) == 0
    lines = [line.split("\t") for line in dst.read_text().splitlines()]
    assert lines[0] == ["sequence", "Dev_log2_enrichment", "Hk_log2_enrichment"]
    assert [r[0] for r in lines[1:]] == [r.split("\t")[5] for r in rows[1:]]
    assert all(len(r) == 3 and np.isfinite([float(v) for v in r[1:]]).all() for r in lines[1:])


def test_train_prints_its_plan_and_progress(trained: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Default schedule: an epoch is one pass over the training rows (not 1000 batches)."""
    code = cli_main(["train", "--data", str(trained["data"]), "--preset", "dream-cnn",
                     *TINY_CNN, "--epochs", "1", "--batch-size", "128", "--out",
                     str(tmp_path / "m"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0
    rows = sum(json.loads((trained["data"] / "dataset.json").read_text())["fold_rows"][1:])
    batches = -(-rows // 128)
    assert (f"plan: epoch = {batches} batches x 128 = {rows} sequences = 1 pass over {rows} "
            f"training rows; 1 epochs ({rows} sequences) on cpu") in out
    progress = [line for line in out.splitlines() if line.startswith("epoch 1/1 ")
                and " batches, " in line]
    assert progress and progress[-1].startswith(f"epoch 1/1 {batches}/{batches} batches, ")
    assert "seq/s" in progress[-1] and "run left" in progress[-1] and "\x1b" not in out


@pytest.mark.parametrize("width", WIDTHS)
def test_train_width_gives_each_dream_preset_the_searchs_blocks_at_that_width(width: str) -> None:
    """`train --preset P --width W` trains what `run --width W` enqueues for preset P."""
    points = load_space("prixfixe", width=width).named_points()
    for preset in dream_presets():
        args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--preset",
                                          preset, "--width", width])
        spec = train_spec(args)
        for key, value in points[preset].items():
            role, _, field = key.partition(".")
            if role in ROLES and key.count(".") == 2:
                block = spec.block(role)
                assert key.split(".")[1] == block.name
                config = make_config(role, block.name, block.params)
                assert getattr(config, key.split(".")[2]) == value, (preset, key)


def test_train_width_scales_the_model_and_set_values_win() -> None:
    def spec(*flags: str) -> Any:
        return train_spec(build_parser().parse_args(["train", "--data", "d", "--out", "o",
                                                     "--preset", "dream-cnn", *flags]))

    sizes = [count_parameters(build_model(spec("--width", w), None)) for w in WIDTHS]
    assert sizes[0] < sizes[1] < sizes[2]  # tiny < small < published
    assert spec() == spec("--width", "published") == get_preset("dream-cnn").with_overrides(
        {"strategy.batches_per_epoch": None})  # the default is unchanged
    pinned = spec("--width", "tiny", "--set", "first.channels=12")
    assert pinned.block("first").params["channels"] == 12
    assert pinned.block("core") == spec("--width", "tiny").block("core")
    swapped = spec("--width", "tiny", "--set", "core=bhi")  # a swapped-in block gets the width
    assert swapped.block("core").name == "bhi"
    assert swapped.block("core").params == width_params("core", "bhi", "tiny")


def test_train_width_tiny_is_one_command(trained: dict[str, Path]) -> None:
    out = trained["root"] / "runs" / "tiny-width"
    code = cli_main(["train", "--data", str(trained["data"]), "--preset", "dream-cnn",
                     "--width", "tiny", "--epochs", "1", "--batches-per-epoch", "2",
                     "--batch-size", "32", "--out", str(out), "--device", "cpu"])
    assert code == 0
    saved = json.loads((out / "spec.json").read_text())
    tiny = with_width(get_preset("dream-cnn"), "tiny")
    assert saved["first.channels"] == tiny.block("first").params["channels"]
    published = count_parameters(build_model(get_preset("dream-cnn"), None))
    assert json.loads((out / "model.json").read_text())["n_parameters"] < published / 10


def _budget_args(trained: dict[str, Path], *extra: str) -> Any:
    return build_parser().parse_args(["train", "--data", str(trained["data"]), *TINY_CNN,
                                      "--batch-size", "32", "--out", "unused", "--device", "cpu",
                                      *extra])


@pytest.mark.parametrize(("budget", "cap", "epochs"), [("60s", None, 53), ("1m", "3", 3),
                                                      ("1", None, 1)])
def test_train_time_budget_plans_the_epochs_that_fit(
        trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], budget: str, cap: str | None, epochs: int) -> None:
    """`train --time-budget` trains as many epochs as the timed batch says fit (at most
    --epochs), says so before training, and warns when not even one fits."""
    import search.commands.train as train_module

    counts = train_module.row_counts(str(trained["data"]), (0,))
    # 1 s of training rows + 0 s of validation per epoch, nothing to build: 90% of the budget
    # (less the microseconds spent planning) buys floor(0.9 * seconds) epochs
    monkeypatch.setattr(train_module, "time_model",
                        lambda *a, **k: (1.0 / counts[0], 0.0, 0.0))
    args = _budget_args(trained, "--time-budget", budget, *(["--epochs", cap] if cap else []))
    spec = train_module.budget_epochs(train_spec(args), args)
    out = capsys.readouterr().out
    assert spec.strategy.epochs == epochs
    assert f"so {epochs} epochs" in out
    assert ("does not fit" in out) == (budget == "1")


def test_train_time_budget_trains_within_its_plan(trained: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: the budgeted run writes a model with the planned epoch count, and resuming
    it with a budget is refused (its schedule was planned for the first run's epochs)."""
    out = trained["root"] / "runs" / "budgeted"
    assert cli_main(["train", "--data", str(trained["data"]), *TINY_CNN, "--epochs", "2",
                     "--batch-size", "32", "--batches-per-epoch", "3", "--time-budget", "10m",
                     "--out", str(out),
                     "--device", "cpu"]) == 0
    assert json.loads((out / "spec.json").read_text())["strategy.epochs"] == 2
    capsys.readouterr()
    assert cli_main(["train", "--data", str(trained["data"]), *TINY_CNN, "--time-budget", "10m",
                     "--out", str(out), "--resume", "--device", "cpu"]) == 2
    assert "--resume with --time-budget" in capsys.readouterr().err
