"""Model files cannot run code: safetensors weights + JSON in model directories, and the logged
MLflow model is a pyfunc from code whose artifact is that directory (no pickle anywhere).

A planted pickle whose unpickling would create a marker file, put in every weights file of a
model directory, an ensemble and the logged model, is refused with an error naming the file by
`predict`, `evaluate`, refit's scoring, a checkpoint resume and `mlflow.pyfunc.load_model`;
the marker never appears."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors import safe_open

from prixfixe_blocks.errors import DataError
from prixfixe_blocks.training.export import (
    META_FILE,
    Predictor,
    load_predictor,
    save_ensemble,
)
from prixfixe_blocks.training.fit import Best
from prixfixe_blocks.training.trainer import Trainer
from prixfixe_blocks.training.weights import WEIGHTS_FILE, atomic_torch_save, write_weights
from search.cli import main as cli_main
from search.record.mlflow_utils import ensure_experiment
from search.record.tracking import log_best_model
from search.refit.scores import score_models
from tests.conftest import REPO
from tests.train_support import make_dream_dataset, tiny_spec

torch.set_num_threads(2)
SEQS = ["TGCATTTTTTTCACATC" + "ACGT" * 20 + "GGTTACGGCTGTT",
        "TGCATTTTTTTCACATC" + "GGCA" * 20 + "GGTTACGGCTGTT",
        "tgcattttttt" + "CAT" * 30]
LOGGED_FILES = {"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt",
                "pyfunc_model.py", "artifacts/model_dir/spec.json",
                "artifacts/model_dir/model.json", "artifacts/model_dir/best.json",
                f"artifacts/model_dir/{WEIGHTS_FILE}"}


class Payload:
    """Unpickling this opens (creates) the marker file: code run by loading a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _quiet(_: str) -> None:
    pass


def cli(*args: str) -> tuple[int, str]:
    """Run the CLI in this process; (exit code, stdout + stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main(list(args))
    return code, out.getvalue()


def _log(uri: str, model_dir: Path) -> str:
    """Log `model_dir` as the best model of a fresh run; the model id."""
    run = MlflowClient(uri).create_run(ensure_experiment(uri, "safe"))  # artifacts by the db
    return log_best_model(uri, run.info.run_id, model_dir)


def _logged_root(uri: str, model_id: str) -> Path:
    mlflow.set_tracking_uri(uri)
    return Path(mlflow.get_logged_model(model_id).artifact_location.removeprefix("file://"))


@pytest.fixture(scope="module")
def trained(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny model: its in-memory predictions, its model directory (with best.json and
    a training checkpoint beside it) and the logged MLflow model."""
    root = tmp_path_factory.mktemp("safe")
    data = make_dream_dataset(shared_data, root / "ds", rows=400)
    trainer = Trainer(tiny_spec(), data, device="cpu", log=_quiet)  # random weights will do
    model_dir = trainer.export(root / "model")
    Best(1, 0.25).save(model_dir)
    trainer.save_checkpoint(model_dir / "checkpoint.pt")
    keys = set(trainer.model.state_dict())
    memory = Predictor(trainer.model, trainer.encoder, torch.device("cpu")).predict(SEQS)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    model_id = _log(uri, model_dir)
    logged = _logged_root(uri, model_id)  # its files as logged, before anything loads it
    files = {p.relative_to(logged).as_posix() for p in logged.rglob("*") if p.is_file()}
    return {"root": root, "data": data, "dir": model_dir, "memory": memory, "keys": keys,
            "uri": uri, "model_id": model_id, "files": files}


def test_model_round_trips_through_its_directory_and_the_logged_pyfunc(trained) -> None:
    with safe_open(str(trained["dir"] / WEIGHTS_FILE), framework="pt") as weights:
        assert set(weights.keys()) == trained["keys"]  # a plain safetensors file
    from_dir = load_predictor(trained["dir"], device="cpu").predict(SEQS)
    np.testing.assert_array_equal(from_dir, trained["memory"])
    logged = mlflow.pyfunc.load_model(f"models:/{trained['model_id']}")
    out = logged.predict(SEQS)
    assert list(out.columns) == ["expression"]
    np.testing.assert_array_equal(out.to_numpy(), trained["memory"])
    framed = logged.predict(pd.DataFrame({"sequence": SEQS}))
    np.testing.assert_array_equal(framed.to_numpy(), trained["memory"])
    with pytest.raises(DataError, match="model input, line 2, field 'sequence': invalid base 'U'"):
        logged.predict(["ACGT", "ACGU"])


def test_logged_model_is_code_and_safetensors_with_no_pickle(trained) -> None:
    root = _logged_root(trained["uri"], trained["model_id"])
    assert trained["files"] == LOGGED_FILES  # no python_model.pkl, checkpoint.pt, weights.pt
    mlmodel = (root / "MLmodel").read_text()
    assert "loader_module: mlflow.pyfunc.loaders.code_model" in mlmodel
    assert "python_model.pkl" not in mlmodel
    assert (root / "pyfunc_model.py").read_bytes() == \
        (REPO / "search" / "record" / "pyfunc_model.py").read_bytes()
    assert (root / f"artifacts/model_dir/{WEIGHTS_FILE}").read_bytes() == \
        (trained["dir"] / WEIGHTS_FILE).read_bytes()
    linked = {m.key: m for m in mlflow.get_logged_model(trained["model_id"]).metrics or []}
    assert all(m.step == 1 for m in linked.values())  # best.json's epoch


def _plant(root: Path, payload: bytes) -> list[Path]:
    """Overwrite every weights / checkpoint file under `root` with `payload`; the files."""
    files = [p for p in root.rglob("*") if p.suffix in (".safetensors", ".pt")]
    for path in files:
        path.write_bytes(payload)
    return files


def test_planted_pickle_is_refused_everywhere_and_runs_nothing(trained, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(marker))
    pickle.loads(payload).close()  # the payload is live: plain unpickling runs it
    assert marker.exists()
    marker.unlink()

    bad = tmp_path / "bad"
    shutil.copytree(trained["dir"], bad)
    atomic_torch_save({"x": torch.ones(1)}, bad / "weights.pt")  # an old-style file beside it
    ensemble = tmp_path / "ensemble"
    for name in ("a", "b"):
        shutil.copytree(trained["dir"], ensemble / name)
    save_ensemble(ensemble, [ensemble / "a", ensemble / "b"])
    planted = _plant(bad, payload) + _plant(ensemble, payload)
    assert len(planted) == 7  # weights, checkpoints and the old-style file, each a pickle
    refused = f"{bad / WEIGHTS_FILE}: not a safetensors weights file"
    (tmp_path / "in.txt").write_text("\n".join(SEQS) + "\n")

    for model, first in ((bad, bad), (ensemble, ensemble / "a")):
        code, out = cli("predict", "--model", str(model), "--input", str(tmp_path / "in.txt"),
                        "--out", str(tmp_path / "out.tsv"))
        assert code == 2 and f"{first / WEIGHTS_FILE}: not a safetensors weights file" in out
        assert "looks like a pickle, which is never loaded" in out
    assert not (tmp_path / "out.tsv").exists()
    code, out = cli("evaluate", "--model", str(bad), "--data", str(trained["data"]))
    assert code == 2 and refused in out
    with pytest.raises(DataError, match=re.escape(refused)):
        score_models({"data_dir": str(trained["data"])}, {"top1": bad}, None)
    trainer = Trainer(tiny_spec(), trained["data"], device="cpu", log=_quiet)
    with pytest.raises(DataError, match="checkpoint.pt: cannot load"):
        trainer.load_checkpoint(bad / "checkpoint.pt")  # weights_only=True refuses it

    model_id = _log(trained["uri"], trained["dir"])
    assert _plant(_logged_root(trained["uri"], model_id), payload)
    with pytest.raises(DataError, match="not a safetensors weights file"):
        mlflow.pyfunc.load_model(f"models:/{model_id}")
    assert not marker.exists()


def test_format_1_and_mismatched_weights_are_refused(trained, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(trained["dir"], old)
    (old / WEIGHTS_FILE).unlink()
    state = load_predictor(trained["dir"], device="cpu").model.state_dict()
    torch.save(state, old / "weights.pt")
    meta = json.loads((old / META_FILE).read_text())
    (old / META_FILE).write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(DataError, match=r"format_version 1 \(pickled weights.pt, no longer"):
        load_predictor(old, device="cpu")
    (old / META_FILE).write_text(json.dumps(meta))
    write_weights({"x": torch.ones(2)}, old / WEIGHTS_FILE)  # safetensors, but not this model's
    with pytest.raises(DataError, match=f"{WEIGHTS_FILE}: weights do not fit spec.json"):
        load_predictor(old, device="cpu")


def test_every_torch_load_in_the_project_is_weights_only() -> None:
    calls = [(path, call) for pkg in ("prixfixe_blocks", "spaces", "search")
             for path in (REPO / pkg).rglob("*.py")
             for call in re.findall(r"torch\.load\([^)]*\)", path.read_text())]
    assert calls  # the checkpoint reader
    assert all("weights_only=True" in call for _, call in calls), calls
    assert not any("mlflow.pytorch" in p.read_text() for p in (REPO / "search").rglob("*.py"))
