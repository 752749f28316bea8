"""Small MLflow helpers shared by `train`, the search runner and `evaluate`.

The default backend is a local SQLite file: MLflow 3.17 refuses a plain `./mlruns` file store
unless told otherwise, and SQLite is what `mlflow ui --backend-store-uri` reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.errors import DataError

MAX_PARAM_CHARS = 6000  # MLflow's limit on one param value
MLFLOW_DB = "mlflow.db"  # the default SQLite store's file name (in the base directory)
DEFAULT_PORT = 5000  # `mlflow ui`'s port when MLFLOW_PORT is not set
PORT_ENV = "MLFLOW_PORT"  # the environment variable `mlflow ui --port` defaults to
# MLflow 3 opens runs in the UI mode kept in the browser (GenAI by default, where runs without
# a logged model are filed under "Evaluations"); this query keeps the classic ("Model
# training") mode. VIEW_KEY names the view saved on the experiment (search/mlflow_view.py).
ML_MODE = {"workflowType": "machine_learning"}
VIEW_KEY = "prixfixe-search"
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
    Unset fields (None: a strategy option the trial does not use) are left out, so no trial
    shows a "None" parameter.
    """
    return {key: _param_text(value)[:MAX_PARAM_CHARS] for key, value in spec.to_flat().items()
            if value is not None}


def _param_text(value: Any) -> str:
    return json.dumps(list(value)) if isinstance(value, list | tuple) else str(value)


def ui_port() -> int:
    """The port `mlflow ui` serves on in this environment (MLFLOW_PORT, else 5000)."""
    try:
        return int(os.environ.get(PORT_ENV, DEFAULT_PORT))
    except ValueError:
        return DEFAULT_PORT


def ui_command(uri: str) -> str:
    """The shell command that serves the MLflow UI for `uri` (on `ui_port`, named outright so
    that the printed URLs match it)."""
    return f"mlflow ui --backend-store-uri {uri} --port {ui_port()}"


def is_server(uri: str) -> bool:
    """Whether `uri` is a tracking server (which serves its own UI)."""
    return uri.startswith(("http://", "https://"))


def ui_base(uri: str) -> str:
    """Where the MLflow UI of `uri` is: the tracking server itself, or `mlflow ui` on this
    machine's `ui_port`."""
    return uri.rstrip("/") if is_server(uri) else f"http://127.0.0.1:{ui_port()}"


def runs_url(uri: str, experiment_id: str, base: str | None = None) -> str:
    """The runs table of an experiment in the MLflow UI (at `base`, default `ui_base(uri)`),
    in model-training mode with the search's saved view (sort, columns, charts)."""
    query = urlencode({**ML_MODE, "viewStateShareKey": VIEW_KEY})
    return f"{base or ui_base(uri)}/#/experiments/{experiment_id}/runs?{query}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """A run's page in model-training mode (`base`: the UI's address, "" for a link inside
    the UI)."""
    path = f"#/experiments/{experiment_id}/runs/{run_id}?{urlencode(ML_MODE)}"
    return f"{base}/{path}" if base else path


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
