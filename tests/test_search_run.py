"""A small search end to end: trials, MLflow structure, files, an injected failure retried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.cli import main as cli_main
from tests.search_support import QUICK, mlflow_runs, read_trials, simulated_data

TRIALS, EPOCHS = 6, 2


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One search: 6 tiny trials x 2 epochs, ASHA, trial 1 fails once before its epoch 2."""
    data = simulated_data(tmp_path_factory)
    storage = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIXFIXE_FAIL_ONCE", "1:2")
        mp.delenv("RAY_ADDRESS", raising=False)
        code = cli_main(["run", "--data", str(data), "--space", "prixfixe", "--name", "small",
                         "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--storage",
                         str(storage), "--max-concurrent", "1", *QUICK])
    root = storage / "small"
    doc = json.loads((root / "search.json").read_text())
    return {"code": code, "root": root, "data": data, "doc": doc,
            "runs": mlflow_runs(doc["tracking_uri"], "small")}


def test_search_runs_every_trial_and_exports_the_best(search: dict[str, Any]) -> None:
    from prixfixe_blocks.training.export import load_predictor

    assert search["code"] == 0
    records = read_trials(search["root"])
    assert len(records) == TRIALS
    assert {r["status"] for r in records.values()} <= {"FINISHED", "STOPPED"}
    assert any(r["status"] == "STOPPED" for r in records.values())  # ASHA did stop one
    assert sorted(r["index"] for r in records.values()) == list(range(1, TRIALS + 1))
    for record in records.values():
        epochs = [h["epoch"] for h in record["history"]]
        assert epochs == list(range(1, record["epoch"] + 1))
        assert record["status"] == ("FINISHED" if record["epoch"] == EPOCHS else "STOPPED")
        best = np.maximum.accumulate([h["val_pearson"] for h in record["history"]])
        assert np.allclose([h["best_val_pearson"] for h in record["history"]], best)
    predictor = load_predictor(search["root"] / "best_model", device="cpu")
    assert predictor.predict(["TGCATTTTTTTCACATC" + "ACGT" * 20 + "GGTTACGGCTGTT"]).shape == (1, 1)


def test_leaderboard_csv_and_plot(search: dict[str, Any]) -> None:
    import csv

    rows = list(csv.DictReader((search["root"] / "leaderboard.csv").open()))
    assert len(rows) == TRIALS and [r["rank"] for r in rows] == [str(i) for i in range(1, 7)]
    scores = [float(r["best_val_pearson"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    png = (search["root"] / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in png[-12:]


def test_mlflow_has_one_parent_and_a_nested_run_per_trial(search: dict[str, Any]) -> None:
    runs = search["runs"]
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parent) == 1 and len(children) == TRIALS
    parent_id = parent["run_id"].iloc[0]
    assert (children["tags.mlflow.parentRunId"] == parent_id).all()
    assert children["tags.trial_id"].is_unique
    tags = parent.iloc[0]
    assert tags["tags.space"] == "prixfixe" and tags["tags.sampler"] == "tpe"
    assert tags["tags.scheduler"] == "asha" and tags["tags.seed"] == "0"
    assert len(tags["tags.data_checksum"]) == 16 and tags["tags.code_version"]
    assert parent["status"].iloc[0] == "FINISHED"
    for column in ("params.first", "params.core", "params.final", "params.strategy.lr",
                   "params.strategy.encoding", "metrics.best_val_pearson",
                   "metrics.val_spearman", "metrics.train_loss", "metrics.seqs_per_s"):
        assert children[column].notna().all(), column
    assert set(children["status"]) <= {"FINISHED", "KILLED"}
    killed = children[children["status"] == "KILLED"]
    assert len(killed) >= 1  # ASHA stopped something: the next line is not vacuous
    assert killed["tags.stop_reason"].str.contains("ASHA").all()
    assert children["tags.node_id"].str.len().gt(10).all()


def test_best_trial_model_is_logged_with_mlflow_pytorch(search: dict[str, Any]) -> None:
    import mlflow

    runs = search["runs"]
    best = runs[runs["tags.best_model"] == "true"]
    assert len(best) == 1
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert best["tags.trial_id"].iloc[0] == parent["tags.best_trial_id"]
    model = mlflow.pytorch.load_model(f"runs:/{best['run_id'].iloc[0]}/model")
    assert sum(p.numel() for p in model.parameters()) > 0


def test_injected_failure_is_retried_from_its_checkpoint(search: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    assert (search["root"] / "fault-injected-1-2").is_file()
    records = read_trials(search["root"])
    first = next(r for r in records.values() if r["index"] == 1)
    assert first["retries"] == 1 and first["status"] == "FINISHED"
    assert "injected failure" in first["last_error"]
    run_id = first["mlflow_run_id"]
    client = MlflowClient(search["doc"]["tracking_uri"])
    run = client.get_run(run_id)
    assert run.data.tags["restored_from_epoch"] == "1" and run.data.tags["retries"] == "1"
    history = client.get_metric_history(run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2]  # epoch 1 was not trained again


def test_each_trial_record_names_its_own_mlflow_run(search: dict[str, Any]) -> None:
    runs = search["runs"]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    by_trial = dict(zip(children["tags.trial_id"], children["run_id"], strict=True))
    records = read_trials(search["root"])
    assert {tid: r["mlflow_run_id"] for tid, r in records.items()} == by_trial
    assert not (search["root"] / "mlflow_runs.json").exists()  # the record is the only one


def test_status_reads_the_experiment_directory(search: dict[str, Any],
                                               capsys: pytest.CaptureFixture) -> None:
    storage = str(search["root"].parent)
    assert cli_main(["status", "small", "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert f"finished {TRIALS}, running 0, pending 0" in out and "best: trial" in out


def test_missing_data_is_rejected_before_anything_starts(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["run", "--data", str(tmp_path / "nope"), "--name", "x", "--storage",
                     str(tmp_path / "runs"), "--trials", "2", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "nope" in err and "dataset directory not found" in err
    assert not (tmp_path / "runs").exists()


def test_bad_space_is_rejected_before_any_trial(tmp_path: Path, search: dict[str, Any],
                                                capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text("params:\n  first: bhi\n  core: {choice: [bhi, lstm9]}\n  final: bhi\n")
    code = cli_main(["run", "--data", str(search["data"]), "--name", "bad", "--space",
                     str(space), "--storage", str(tmp_path / "runs"), "--width", "tiny",
                     "--sampler", "grid"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown core block 'lstm9'" in err
    assert not (tmp_path / "runs").exists()


def test_missing_plugin_is_rejected_before_anything_starts(
        tmp_path: Path, search: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["run", "--data", str(search["data"]), "--name", "plug", "--storage",
                     str(tmp_path / "runs"), "--plugin", str(tmp_path / "blocks.py")])
    err = capsys.readouterr().err
    assert code == 2 and "plugin file not found" in err
    assert not (tmp_path / "runs").exists()
    assert search["doc"]["options"]["plugins"] == []  # stored in search.json


def test_existing_search_name_is_refused(search: dict[str, Any],
                                         capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["run", "--data", str(search["data"]), "--name", "small", "--storage",
                     str(search["root"].parent)])
    assert code == 2 and "already exists" in capsys.readouterr().err
