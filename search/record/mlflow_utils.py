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
UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default
# MLflow 3 opens an experiment on its GenAI overview; this query opens the classic runs table,
# sorted by the trials' best validation Pearson (the parent run logs `search_*` metrics only).
RUNS_VIEW = "runs?workflowType=machine_learning&orderByKey=metrics.%60best_val_pearson%60" \
            "&orderByAsc=false"
RUN_FILE = "mlflow_run.json"  # in a model directory: the MLflow run that produced it
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


def is_server(uri: str) -> bool:
    """Whether `uri` is a tracking server (which serves its own UI)."""
    return uri.startswith(("http://", "https://"))


def runs_url(uri: str, experiment_id: str) -> str:
    """The runs table of an experiment in the MLflow UI (of the server `uri`, or of
    `mlflow ui` on its default address)."""
    base = uri.rstrip("/") if is_server(uri) else UI_ADDRESS
    return f"{base}/#/experiments/{experiment_id}/{RUNS_VIEW}"


def browse_text(uri: str, experiment_id: str) -> str:
    """How to browse a search's runs: the command to serve the UI (for a local store) and the
    URL of its runs table."""
    serve = "" if is_server(uri) else f"{ui_command(uri)}\n  then open "
    return f"MLflow runs: {serve}{runs_url(uri, experiment_id)}"


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
