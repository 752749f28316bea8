"""Small MLflow helpers shared by `train`, the search runner and `evaluate`.

The default backend is a local SQLite file: MLflow 3.17 refuses a plain `./mlruns` file store
unless told otherwise, and SQLite is what `mlflow ui --backend-store-uri` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.errors import DataError

MAX_PARAM_CHARS = 6000  # MLflow's limit on one param value
MLFLOW_DB = "mlflow.db"  # the default SQLite store's file name (in the base directory)
RUN_FILE = "mlflow_run.json"  # in a model directory: the MLflow run that produced it


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


def ensure_experiment(uri: str, name: str) -> str:
    """Id of experiment `name`, created if missing.

    With a local SQLite store the experiment's artifacts go to `mlartifacts/` beside the database,
    not to MLflow's default `./mlruns` under whatever directory the command ran in.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def write_run_record(model_dir: Path, run_id: str, tracking_uri: str) -> None:
    """Record in a model directory the MLflow run that produced it (RUN_FILE, atomically)."""
    doc = {"run_id": run_id, "tracking_uri": tracking_uri}
    atomic_write_text(Path(model_dir) / RUN_FILE, json.dumps(doc) + "\n")


def read_run_record(model_dir: Path) -> tuple[str, str] | None:
    """(run id, tracking URI) of the run that produced a model directory, or None when it
    records none. A record without a URI (written before it was kept) means the default
    store of `train`: mlflow.db beside the model directory, if that exists."""
    path = Path(model_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        run_id = str(doc["run_id"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"unreadable ({err})", path=str(path)) from None
    uri = doc.get("tracking_uri")
    if not uri:
        db = Path(model_dir).resolve().parent / MLFLOW_DB
        uri = f"sqlite:///{db}" if db.is_file() else None
    return (run_id, str(uri)) if uri else None
