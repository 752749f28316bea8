"""refit of a tiny finished search: Tune trials on train + val, the ensemble model directory,
the test table, MLflow runs, resuming, and refusing what cannot be refit; then `report`."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.data.format.splits import FIT
from prixfixe_blocks.data.write.resplit import split_dataset
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.evaluation.baseline import Baseline, fit_baseline
from prixfixe_blocks.evaluation.calibration import Calibration
from prixfixe_blocks.evaluation.ensemble import RIDGE, load_any_predictor
from prixfixe_blocks.evaluation.evaluate import dataset_rows
from prixfixe_blocks.evaluation.kmer_ridge import KmerRidge
from prixfixe_blocks.evaluation.kmers import N_FEATURES
from prixfixe_blocks.evaluation.selection import Selection
from prixfixe_blocks.training.export import (
    ENSEMBLE_FILE,
    ensemble_members,
    load_predictor,
    save_ensemble,
)
from prixfixe_blocks.training.metrics import pearson
from prixfixe_blocks.training.weights import WEIGHTS_FILE
from search.cli import main as cli_main
from search.experiment import ExperimentDir
from search.refit.driver import write_ensemble
from search.refit.select import write_selected
from tests.search_support import QUICK, mlflow_runs, simulated_data

pytestmark = pytest.mark.slow  # a long file: conftest runs it first

TRIALS, EPOCHS, TOP, SEEDS = 3, 2, 2, 2
SEQS = ["TGCATTTTTTTCACATC" + "ACGT" * 20 + "GGTTACGGCTGTT",
        "TGCATTTTTTTCACATC" + "GGCA" * 20 + "GGTTACGGCTGTT"]


def cli(*args: str) -> tuple[int, str]:
    """Run the CLI in this process; (exit code, stdout + stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def refit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """3 preset trials x 2 epochs on data with a train / val / test split, then refit of the
    top 2 with 2 seeds (the third preset refit beside them)."""
    data = tmp_path_factory.mktemp("split") / "data"
    shutil.copytree(simulated_data(tmp_path_factory), data)
    split_dataset(data, test_fraction=0.1, val_fraction=0.1, seed=0)
    storage = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RAY_ADDRESS", raising=False)
        mp.delenv("PRIXFIXE_FAIL_ONCE", raising=False)
        search = cli("run", "--data", str(data), "--name", "tiny", "--trials", str(TRIALS),
                     "--epochs", str(EPOCHS), "--scheduler", "none", "--storage", str(storage),
                     "--max-concurrent", "2", *QUICK)
        assert search[0] == 0, search[1][-3000:]
        code, out = cli("refit", "tiny", "--top", str(TOP), "--seeds", str(SEEDS),
                        "--storage", str(storage))
    root = storage / "tiny"
    return {"code": code, "out": out, "root": root, "data": data, "storage": storage,
            "doc": json.loads((root / "search.json").read_text()),
            "plan": json.loads((root / "refit.json").read_text())}


def test_refit_trains_each_chosen_configuration_per_seed_on_train_and_val(refit) -> None:
    assert refit["code"] == 0, refit["out"][-3000:]
    plan = refit["plan"]
    assert plan["state"] == "finished" and plan["seeds"] == [0, 1]
    roles = [c["role"] for c in plan["configs"]]
    assert roles == ["top", "top", "preset"]  # the third preset, for comparison
    assert {c["preset"] for c in plan["configs"]} == {"dream-attn", "dream-cnn", "dream-rnn"}
    assert len(plan["members"]) == 3 * SEEDS
    splits = open_dataset(refit["data"]).splits
    assert splits["val"] > 0 and splits["test"] > 0
    for member in plan["members"].values():
        assert member["status"] == "FINISHED"
        assert member["train_rows"] == splits["train"] + splits["val"]  # never a test row
        config = plan["configs"][member["config"]]
        assert member["epoch"] == config["epochs"] >= 1  # the epoch it was best at


def test_the_ensemble_is_chosen_on_validation_among_every_refit_and_the_ridge(refit) -> None:
    ensemble = refit["root"] / "refit" / "ensemble"
    doc = json.loads((ensemble / ENSEMBLE_FILE).read_text())
    assert doc["format_version"] == 2 and doc["combine"] == "weighted"
    chosen = doc["selection"]
    assert chosen == refit["plan"]["selection"]
    assert set(chosen["single_val_pearson"]) == {c["key"] for c in refit["plan"]["configs"]} \
        | {RIDGE}  # every configuration (presets too) and the ridge were candidates
    assert chosen["val_pearson"] >= max(chosen["single_val_pearson"].values())
    weights = chosen["weights"]
    assert weights and all(isinstance(w, int) and w > 0 for w in weights.values())
    expected = {}  # a configuration's weight on each seed's refit; the ridge's times the seeds
    for name, w in weights.items():
        if name == RIDGE:
            expected[RIDGE] = w * SEEDS
        else:
            expected.update({f"members/{name}-seed{s}": w for s in (0, 1)})
    assert {m["path"]: m["weight"] for m in doc["members"]} == expected
    assert f"ensemble chosen on validation ({open_dataset(refit['data']).splits['val']} rows)" \
        in refit["out"] and chosen["describe"] in refit["out"]
    members = sorted(p.name for p in (ensemble / "members").iterdir())
    assert len(members) == 3 * SEEDS  # every refit model is kept beside the chosen ones


def test_the_ensemble_predicts_the_weighted_mean_of_its_calibrated_members(refit) -> None:
    ensemble = refit["root"] / "refit" / "ensemble"
    doc = json.loads((ensemble / ENSEMBLE_FILE).read_text())
    assert "members calibrated to their stand-ins' mean and spread" in refit["out"]
    each = [Calibration(tuple(m["scale"]), tuple(m["shift"])).apply(
        load_any_predictor(ensemble / m["path"], device="cpu").predict(SEQS))
        for m in doc["members"]]  # every member calibrated to its stand-in
    scales = {m["path"]: m["scale"] for m in doc["members"]}  # the seeds' mean: one map
    assert all(scales[f"members/{name}-seed1"] == scales[f"members/{name}-seed0"]
               for name in doc["selection"]["weights"] if name != RIDGE)
    weights = np.array([m["weight"] for m in doc["members"]], float)
    mixed = load_any_predictor(ensemble, device="cpu").predict(SEQS)
    assert mixed.shape == (2, 1)
    np.testing.assert_allclose(mixed, np.tensordot(weights, each, 1) / weights.sum(), rtol=1e-6)
    moved = refit["storage"] / "moved-ensemble"  # member paths are relative: it can move
    shutil.copytree(ensemble, moved)
    np.testing.assert_allclose(load_any_predictor(moved, device="cpu").predict(SEQS), mixed)
    seeds = [load_any_predictor(ensemble / "members" / f"top1-seed{s}", device="cpu")
             .predict(SEQS) for s in (0, 1)]
    assert not np.allclose(seeds[0], seeds[1])  # two seeds, two models


def test_predict_takes_the_ensemble_directory(refit, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("\n".join(SEQS) + "\n")
    ensemble = refit["root"] / "refit" / "ensemble"
    code, out = cli("predict", "--model", str(ensemble), "--input", str(tmp_path / "in.txt"),
                    "--out", str(tmp_path / "out.tsv"))
    assert code == 0, out
    rows = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()]
    expected = load_any_predictor(ensemble, device="cpu").predict(SEQS)[:, 0]
    np.testing.assert_allclose([float(r[1]) for r in rows], expected, rtol=1e-5)


def test_predict_and_evaluate_use_a_ridge_member_at_its_weight(refit, tmp_path: Path) -> None:
    """refit's writer with the ridge chosen (weight 2 against top1's 1): the ridge is saved in
    the ensemble (no pickle) and `predict` / `evaluate` score the weighted mix."""
    exp = ExperimentDir(tmp_path / "copy")
    members = exp.path("refit/ensemble/members")
    shutil.copytree(refit["root"] / "refit" / "ensemble" / "members", members)
    models = {p.name: p for p in members.iterdir()}
    targets = load_any_predictor(models["top1-seed0"], device="cpu").targets
    ridge = fit_baseline(str(refit["data"]), targets, part=FIT)
    chosen = Selection({"top1": 1, RIDGE: 2}, 0.5, {"top1": 0.4, RIDGE: 0.45}, (0.45, 0.5))
    ensemble = write_selected(exp, refit["plan"], models, chosen, ridge, {"search": "tiny"})
    rows = dataset_rows(str(refit["data"]), targets, "test")
    seqs = rows.column("sequence")
    top1 = np.mean([load_any_predictor(models[f"top1-seed{s}"], device="cpu").predict(seqs)
                    for s in (0, 1)], axis=0)
    expected = (top1 + 2 * ridge.model.predict(seqs)) / 3
    np.testing.assert_allclose(load_any_predictor(ensemble).predict(seqs), expected, rtol=1e-5)
    (tmp_path / "in.txt").write_text("\n".join(seqs.to_pylist()) + "\n")
    code, out = cli("predict", "--model", str(ensemble), "--input", str(tmp_path / "in.txt"),
                    "--out", str(tmp_path / "out.tsv"))
    assert code == 0, out
    got = [float(line.split("\t")[1]) for line in (tmp_path / "out.tsv").read_text().splitlines()]
    np.testing.assert_allclose(got, expected[:, 0], rtol=1e-5)
    code, out = cli("evaluate", "--model", str(ensemble), "--data", str(refit["data"]),
                    "--split", "test", "--json", str(tmp_path / "e.json"))
    assert code == 0, out
    doc = json.loads((tmp_path / "e.json").read_text())
    truth = rows.column(targets[0]).to_numpy()
    assert doc["pearson"] == pytest.approx(pearson(expected[:, 0], truth), abs=1e-5)
    assert doc["pearson"] != pytest.approx(pearson(top1[:, 0], truth), abs=1e-4)


def test_without_the_searchs_models_the_ensemble_is_the_top_mean(refit, tmp_path: Path,
                                                                   capsys) -> None:
    """Tune's files of the search gone: no configuration can be judged on validation rows, so
    the ensemble falls back to the mean of the top K x S refit models."""
    exp = ExperimentDir(tmp_path / "copy")  # the refit's models, no tune/ directory
    members = exp.path("refit/ensemble/members")
    shutil.copytree(refit["root"] / "refit" / "ensemble" / "members", members)
    models = {p.name: p for p in members.iterdir()}
    targets = tuple(load_any_predictor(models["top1-seed0"], device="cpu").targets)
    zero = KmerRidge(np.zeros((N_FEATURES + 1, 1)), np.zeros(1), targets, 4.0, 0.5, 10)
    plan = {**refit["plan"], "selection": {"stale": 1}}
    ensemble = write_ensemble(exp, refit["doc"], plan, models, Baseline(zero, "d", 10, 10))
    assert "no search model to judge the configurations by" in capsys.readouterr().out
    assert "selection" not in plan
    assert [m.name for m in ensemble_members(ensemble)] == [
        f"top{c}-seed{s}" for c in (1, 2) for s in (0, 1)]


def test_test_table_compares_models_ensemble_presets_and_baseline(refit) -> None:
    doc = json.loads((refit["root"] / "refit" / "test.json").read_text())
    rows = {r["model"]: r for r in doc["rows"]}
    third = refit["plan"]["configs"][2]["key"]  # the preset outside the top 2
    label = f"selected ensemble ({refit['plan']['selection']['describe']})"
    assert set(rows) == {"top1", "top2", third, label, "k-mer ridge baseline"}
    assert "test split" in doc["title"]
    for row in doc["rows"]:
        assert np.isfinite(row["test_pearson"]) and np.isfinite(row["test_mse"])
    table = (refit["root"] / "refit" / "test.md").read_text()
    assert "k-mer ridge baseline" in table and label in table
    splits = open_dataset(refit["data"]).splits  # the baseline sees the refit's rows
    assert f"fitted on {splits['train'] + splits['val']:,} training rows" in table
    assert "ensemble model:" in refit["out"]


def test_mlflow_has_one_nested_run_per_refit_trial_and_one_for_the_ensemble(refit) -> None:
    doc, plan = refit["doc"], refit["plan"]
    runs = mlflow_runs(doc["tracking_uri"], "tiny")
    refits = runs[runs["tags.refit"] == "true"]
    assert len(refits) == 3 * SEEDS + 1
    assert set(refits["tags.mlflow.parentRunId"]) == {doc["parent_run_id"]}
    members = refits[refits["tags.refit_member"].notna()]
    assert set(members["run_id"]) == {m["mlflow_run_id"] for m in plan["members"].values()}
    assert members["metrics.test_pearson"].notna().all()
    assert set(members["params.refit.rows"]) == {"train + val"}
    ensemble = refits[refits["tags.refit_ensemble"] == "true"]
    assert len(ensemble) == 1 and ensemble["metrics.test_pearson"].notna().all()
    chosen = plan["selection"]
    assert ensemble["tags.ensemble_members"].iloc[0] == f"selected ensemble ({chosen['describe']})"
    assert json.loads(ensemble["tags.ensemble_weights"].iloc[0]) == chosen["weights"]
    shares = json.loads(ensemble["tags.ensemble_shares"].iloc[0])
    assert set(shares) == set(chosen["weights"]) and sum(shares.values()) == pytest.approx(
        1.0, abs=0.01)
    assert ensemble["metrics.val_pearson"].iloc[0] == pytest.approx(chosen["val_pearson"])
    client = MlflowClient(doc["tracking_uri"])
    names = {a.path for a in client.list_artifacts(ensemble["run_id"].iloc[0], "refit")}
    assert {"refit/test.md", "refit/test.json", f"refit/{ENSEMBLE_FILE}"} <= names
    record = json.loads((refit["root"] / "refit" / "ensemble" / "mlflow_run.json").read_text())
    assert record["run_id"] == ensemble["run_id"].iloc[0]


def test_running_refit_again_continues_without_retraining(refit) -> None:
    member = refit["root"] / "refit" / "ensemble" / "members" / "top1-seed0" / WEIGHTS_FILE
    before = member.read_bytes()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RAY_ADDRESS", raising=False)
        code, out = cli("refit", "tiny", "--resume", "--storage", str(refit["storage"]))
    assert code == 0, out[-3000:]
    assert "continuing the refit" in out and "started" not in out
    assert member.read_bytes() == before
    plan = json.loads((refit["root"] / "refit.json").read_text())
    assert {k: m["mlflow_run_id"] for k, m in plan["members"].items()} == \
        {k: m["mlflow_run_id"] for k, m in refit["plan"]["members"].items()}
    runs = mlflow_runs(refit["doc"]["tracking_uri"], "tiny")
    assert (runs["tags.refit"] == "true").sum() == 3 * SEEDS + 1  # nothing twice


def test_bad_refits_say_what_exists(refit) -> None:
    storage = str(refit["storage"])
    code, out = cli("refit", "nope", "--storage", storage)
    assert code == 2 and "no search 'nope'" in out and "tiny (finished)" in out
    half = refit["storage"] / "half"
    half.mkdir()
    shutil.copy(refit["root"] / "search.json", half / "search.json")
    (half / "driver.json").write_text(json.dumps({"state": "running", "pid": 1 << 22,
                                                  "host": "elsewhere"}))
    code, out = cli("refit", "half", "--storage", storage)
    assert code == 2 and "'half' is not finished" in out and "tiny (finished)" in out
    code, out = cli("refit", "tiny", "--top", "1", "--storage", storage)
    assert code == 2 and "already has a refit with --top 2 --seeds 2" in out


def test_report_after_refit_has_importances_choices_and_the_test_table(refit) -> None:
    code, out = cli("report", "tiny", "--storage", str(refit["storage"]))
    assert code == 0, out
    report = refit["root"] / "report"
    found = json.loads((report / "importances.json").read_text())
    assert found["trials"] == TRIALS and found["overall"]["fanova"]
    assert (report / "choices.png").stat().st_size > 0
    text = (report / "report.md").read_text()
    assert "## Test set (refit)" in text and "k-mer ridge baseline" in text
    assert "optuna-dashboard" in out


def test_ensemble_directories_are_checked(tmp_path: Path, refit) -> None:
    members = refit["root"] / "refit" / "ensemble" / "members"
    with pytest.raises(DataError, match="not inside"):
        save_ensemble(tmp_path, [members / "top1-seed0"])
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps({"format_version": 1, "members": []}))
    with pytest.raises(DataError, match="non-empty list"):
        load_predictor(tmp_path)


def test_without_a_test_split_the_table_says_its_figures_are_validation(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from search.experiment import ExperimentDir
    from search.refit.scores import evaluate_refit

    exp = ExperimentDir(tmp_path / "s")
    plan = {"data_dir": str(simulated_data(tmp_path_factory)), "seeds": [0, 1], "top": 1,
            "configs": [{"key": "top1", "role": "top", "preset": "", "trial": "004",
                         "epochs": 3, "val_pearson": 0.42}], "members": {}}
    summary = evaluate_refit(exp, {"tracking_uri": f"sqlite:///{tmp_path / 'm.db'}"}, plan,
                             {}, None)
    assert not summary["tested"]
    text = (tmp_path / "s" / "refit" / "test.md").read_text()
    assert "validation figures of the search (no test split)" in text
    assert "0.4200" in text and "test r" not in text
    assert "prixfixe-search data split DATA --test-fraction F" in text
