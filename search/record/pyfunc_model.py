"""The logged best model: an MLflow pyfunc logged as code ("models from code"), never pickled.

search/model_logging.py logs this file with `mlflow.pyfunc.log_model(python_model=<this file>,
artifacts={MODEL_DIR_ARTIFACT: <model directory>})`: MLflow stores the file and the model
directory's files (safetensors weights, JSON spec and meta), and no `python_model.pkl`.
`mlflow.pyfunc.load_model` runs this file, and `load_context` reads the directory with
`load_predictor`, the reader `predict` and `evaluate` use, which never unpickles.

Input (the logged signature: one string column): a list of sequences or a one-column
DataFrame; output: a DataFrame with one column per target, both strands averaged.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
import pyarrow as pa
from mlflow.pyfunc import PythonModel, PythonModelContext

from prixfixe_blocks.data.format.validate import check_sequences, upper_sequences
from prixfixe_blocks.errors import DataError
from prixfixe_blocks.training.export import EnsemblePredictor, Predictor, load_predictor
from search.record.model_logging import MODEL_DIR_ARTIFACT

SEQUENCE_COLUMN = "sequence"


def input_sequences(frame: pd.DataFrame) -> list[str]:
    """The sequences of a pyfunc input (MLflow has enforced the signature: one string column),
    checked: DataError naming the row and the field."""
    values = [str(v) for v in frame.iloc[:, 0]]
    errors = check_sequences(upper_sequences(pa.array(values, pa.string())))
    if errors:
        row = min(errors)
        raise DataError(errors[row], path="model input", line=row + 1, field=SEQUENCE_COLUMN)
    return values


class PrixFixePyfunc(PythonModel):
    """Loads a model (or ensemble) directory from the logged artifacts; predicts sequences."""

    predictor: Predictor | EnsemblePredictor

    def load_context(self, context: PythonModelContext) -> None:
        self.predictor = load_predictor(context.artifacts[MODEL_DIR_ARTIFACT])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        seqs = input_sequences(model_input)
        return pd.DataFrame(self.predictor.predict(seqs), columns=self.predictor.targets)


mlflow.models.set_model(PrixFixePyfunc())
