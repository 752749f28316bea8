"""`prixfixe-search evaluate` end to end on a tiny trained model: table, JSON, MLflow, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from prixfixe_blocks.data.format.suite_tsv import PAIRS_FILE, SUITE_DIR, SUITE_FILE
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.training.export import META_FILE
from search.cli import main
from search.record.mlflow_utils import RUN_FILE, read_run_record
from tests.evaluate_support import split_dataset

torch.set_num_threads(2)
TINY_CNN = ["--set", "first.channels=8", "--set", "core.block_sizes=[16,8]"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    data = root / "sim"
    simulate(data, 1500, seed=3, test_rows=40)
    model = root / "runs" / "model"
    assert main(["train", "--data", str(data), "--preset", "dream-cnn", *TINY_CNN, "--epochs",
                 "1", "--batches-per-epoch", "3", "--batch-size", "32", "--out", str(model),
                 "--device", "cpu"]) == 0
    return {"root": root, "data": data, "model": model,
            "suite": data / SUITE_DIR / SUITE_FILE, "pairs": data / SUITE_DIR / PAIRS_FILE}


def test_suite_table_json_and_mlflow(trained: dict[str, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = trained["root"] / "figures.json"
    assert main(["evaluate", "--model", str(trained["model"]), "--suite", str(trained["suite"]),
                 "--pairs", str(trained["pairs"]), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "k-mer r" in printed and "snv (alt - ref)" in printed
    assert "weights renormalised over the 6 counted (sum 3.45 of 4.65)" in printed
    doc = json.loads(out.read_text())
    assert {"pearson_score", "spearman_score", "subsets", "kmer_ridge_baseline"} <= set(doc)
    assert set(doc["subsets"]) == {"all", "random", "high", "low", "snv", "motif_perturbation"}
    assert doc["subsets"]["all"]["n"] == 200 and doc["subsets"]["snv"]["n"] == 20
    assert all(set(s) >= {"pearson", "spearman", "n"} for s in doc["subsets"].values())
    base = doc["kmer_ridge_baseline"]
    assert set(base["subsets"]) == set(doc["subsets"])
    assert base["rows"] > 1000 and base["data"] == str(trained["data"].resolve())
    assert base["subsets"]["all"]["pearson"] > 0.3  # the k-mer model learns the simulator
    assert doc["missing_subsets"] == ["yeast", "challenging", "motif_tiling"]
    run_id, uri = read_run_record(trained["model"])
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["evaluate/suite/pearson_score"] == pytest.approx(doc["pearson_score"])
    assert metrics["evaluate/suite/kmer_ridge_baseline/subsets/snv/spearman"] == \
        pytest.approx(base["subsets"]["snv"]["spearman"])
    assert "evaluate/suite.json" in {a.path for a in client.list_artifacts(run_id, "evaluate")}
    assert f"logged to run {run_id}" in printed


def test_dataset_split_and_missing_split(trained: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = str(trained["model"])
    assert main(["evaluate", "--model", model, "--data", str(trained["data"]), "--split",
                 "test"]) == 2
    err = capsys.readouterr().err
    assert "has no split column" in err and "prixfixe-search data split" in err
    split = split_dataset(trained["root"] / "split", 600, seed=4)
    out = trained["root"] / "split.json"
    assert main(["evaluate", "--model", model, "--data", str(split), "--split", "test",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    test_rows = json.loads((split / "dataset.json").read_text())["splits"]["test"]
    assert doc["split"] == "test" and doc["targets"]["expression"]["n"] == test_rows
    assert set(doc["targets"]["expression"]) == {"pearson", "spearman", "mse", "n"}
    assert doc["kmer_ridge_baseline"]["targets"]["expression"]["mse"] > 0
    assert "model mse" in capsys.readouterr().out
    assert main(["evaluate", "--model", model, "--data", str(split), "--split", "holdout"]) == 2
    assert "no rows with split 'holdout'" in capsys.readouterr().err


def test_bad_suite_exits_with_file_line_field(trained: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    lines = trained["suite"].read_text().splitlines()
    seq = lines[3].split("\t")[0]
    lines[3] = lines[3].replace(seq, seq[:20] + "Z" + seq[21:], 1)
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["evaluate", "--model", str(trained["model"]), "--suite", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 4, field 'sequence': invalid base 'Z' at position 21" in err
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(trained["pairs"].read_text() + f"snv\t{seq}\tACGTACGT\n")
    assert main(["evaluate", "--model", str(trained["model"]), "--suite", str(trained["suite"]),
                 "--pairs", str(pairs)]) == 2
    n_lines = len(pairs.read_text().splitlines())
    assert f"{pairs}, line {n_lines}, field 'alt': sequence not in the suite" in \
        capsys.readouterr().err


def test_old_model_dir_needs_baseline_data_and_has_no_run(
        trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "old"
    shutil.copytree(trained["model"], model)
    (model / RUN_FILE).unlink()
    meta = json.loads((model / META_FILE).read_text())
    del meta["dataset"]
    (model / META_FILE).write_text(json.dumps(meta))
    suite = ["--suite", str(trained["suite"])]
    assert main(["evaluate", "--model", str(model), *suite]) == 2
    assert "pass --baseline-data" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(model), *suite, "--baseline-data",
                 str(trained["data"])]) == 0
    printed = capsys.readouterr().out
    assert "MLflow: no run recorded" in printed and "not logged" in printed
    assert "DREAM score" in printed
