"""Logging a model directory as an MLflow model that loading cannot turn into code execution.

The logged model is a pyfunc "from code": MLflow stores search/record/pyfunc_model.py (the code, run
on load, which imports the installed package) and, as its one artifact, the directory's files
that prediction needs: spec.json, model.json, weights.safetensors and best.json. No checkpoint,
no pickle (no `python_model.pkl`): weights load through the safetensors reader only.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import mlflow
import safetensors
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from prixfixe_blocks.training.export import MODEL_FILES, load_model
from prixfixe_blocks.training.fit import BEST_FILE, Best

MODEL_DIR_ARTIFACT = "model_dir"  # the logged model's artifact: the model directory's files
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")  # the logged model's code


def requirements() -> list[str]:
    """The logged model's pip requirements beside MLflow (the serving environment also needs
    this package installed, whose code the model imports)."""
    return [f"torch=={torch.__version__.split('+')[0]}",
            f"safetensors=={safetensors.__version__}"]


def log_model_dir(model_dir: Path, name: str,
                  registered_name: str | None = None) -> ModelInfo:
    """Log `model_dir` (one model directory) into the active run as pyfunc model `name`, linked
    to the run's metrics at its best epoch, registered as `registered_name` when given."""
    root = Path(model_dir)
    targets = load_model(root, device="cpu").targets  # refuses a directory that would not load
    signature = ModelSignature(inputs=Schema([ColSpec("string")]),  # a list or one column
                               outputs=Schema([ColSpec("float", t) for t in targets]))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*An input example was not provided")  # signed
        staged = Path(tmp) / MODEL_DIR_ARTIFACT
        staged.mkdir()
        for file in (*MODEL_FILES, BEST_FILE):
            if (root / file).is_file():
                shutil.copy2(root / file, staged / file)
        return mlflow.pyfunc.log_model(
            name=name, python_model=str(PYFUNC_CODE), artifacts={MODEL_DIR_ARTIFACT: str(staged)},
            signature=signature, pip_requirements=requirements(),
            step=Best.load(root).epoch, registered_model_name=registered_name)
