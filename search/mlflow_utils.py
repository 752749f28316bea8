"""Small MLflow helpers shared by `train` and the search runner.

The default backend is a local SQLite file: MLflow 3.17 refuses a plain `./mlruns` file store
unless told otherwise, and SQLite is what `mlflow ui --backend-store-uri` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_PARAM_CHARS = 6000  # MLflow's limit on one param value
MLFLOW_DB = "mlflow.db"  # the default SQLite store's file name (in the base directory)
ARTIFACTS_DIR = "mlartifacts"  # the default artifact root's name (beside the store or in --storage)


def resolve_tracking_uri(uri: str | None, base_dir: Path) -> str:
    """`uri` if given, else `sqlite:///<base_dir>/mlflow.db` (absolute path; dir created)."""
    if uri:
        return uri
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / MLFLOW_DB}"


def flat_params(spec: Any) -> dict[str, str]:
    """A ModelSpec's flat form as MLflow params (strings, cut to MLflow's length limit).

    Sequences are written as JSON lists (`[16, 8]`) whether the spec holds a list or a tuple.
    """
    return {key: _param_text(value)[:MAX_PARAM_CHARS] for key, value in spec.to_flat().items()}


def _param_text(value: Any) -> str:
    return json.dumps(list(value)) if isinstance(value, list | tuple) else str(value)


def ui_command(uri: str) -> str:
    """The shell command that serves the MLflow UI for `uri`."""
    return f"mlflow ui --backend-store-uri {uri}"


def ensure_experiment(uri: str, name: str, artifacts: str | None = None) -> str:
    """Id of experiment `name`, created if missing.

    Its artifacts go to `artifacts` when given (e.g. `s3://bucket/runs/mlartifacts`: a search
    whose --storage is an object store keeps them in the same bucket), else, with a local SQLite
    store, to `mlartifacts/` beside the database, not to MLflow's default `./mlruns` under
    whatever directory the command ran in.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = artifacts
    if location is None and uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / ARTIFACTS_DIR).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)
