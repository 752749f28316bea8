"""Where a search's runs come from: the code (git) and the dataset, in MLflow's own terms.

MLflow shows a run's Source and commit from the `mlflow.source.*` tags, and its Datasets
column from dataset inputs (`mlflow.data`). Runs created through `MlflowClient` get neither on
their own, so the search sets both: the same tags and the same dataset input (name, digest =
the dataset checksum, source = its directory, rows and splits in its profile, columns in its
schema) on the parent run and on every trial run.
"""

from __future__ import annotations

import functools
import json
import subprocess
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.types import ColSpec, DataType, Schema
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from prixfixe_blocks.data.format.schema import dataset_checksum
from prixfixe_blocks.data.store.location import filesystem, normalize

REPO = Path(__file__).resolve().parents[2]
SOURCE_NAME = "prixfixe-search"
DATA_CONTEXT = "training"  # the dataset input's context: trials train and validate on its folds
_ARROW_TYPES = {  # Arrow column types of the dataset format -> MLflow schema types
    pa.string(): DataType.string, pa.large_string(): DataType.string,
    pa.float32(): DataType.float, pa.float64(): DataType.double,
    pa.int8(): DataType.integer, pa.int16(): DataType.integer, pa.int32(): DataType.integer,
    pa.int64(): DataType.long, pa.bool_(): DataType.boolean,
}


def _git(*args: str) -> str:
    """Output of a git command in the checkout holding this code ("" when not a checkout)."""
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                             timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _in_checkout() -> bool:
    """Whether this code is the work tree of a git checkout (not an installed copy that
    happens to sit inside some other repository)."""
    top = _git("rev-parse", "--show-toplevel")
    return bool(top) and Path(top).resolve() == REPO


def code_version() -> str:
    """`git describe` of the checkout if available, else the installed package version."""
    described = _git("describe", "--always", "--dirty", "--tags") if _in_checkout() else ""
    if described:
        return described
    try:
        return version("prixfixe-search")
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def source_tags() -> dict[str, str]:
    """MLflow's source tags: the command always; the commit (and branch, remote) when the code
    is a git checkout."""
    tags = {"mlflow.source.name": SOURCE_NAME, "mlflow.source.type": "LOCAL"}
    if not _in_checkout():
        return tags
    for tag, args in (("mlflow.source.git.commit", ("rev-parse", "HEAD")),
                      ("mlflow.source.git.branch", ("rev-parse", "--abbrev-ref", "HEAD")),
                      ("mlflow.source.git.repoURL", ("remote", "get-url", "origin"))):
        value = _git(*args)
        if value:
            tags[tag] = value
    return tags


class ShardedDataset(MetaDataset):
    """A dataset directory described by its dataset.json (no data read): MLflow's metadata-only
    dataset plus a profile with the row counts."""

    def __init__(self, source: Any, name: str, digest: str, schema: Schema | None,
                 profile: dict[str, Any]) -> None:
        self._profile = profile
        super().__init__(source=source, name=name, digest=digest, schema=schema)

    @property
    def profile(self) -> dict[str, Any]:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def _schema(meta: Any, location: str) -> Schema | None:
    """The columns of the first shard as an MLflow schema (None for an empty dataset); read
    from its footer, where the dataset is (a directory or a URI)."""
    if not meta.shards:
        return None
    fs, base = filesystem(location)
    arrow = pq.read_schema(f"{base}/{meta.shards[0]['file']}", filesystem=fs)
    return Schema([ColSpec(_ARROW_TYPES.get(f.type, DataType.string), f.name) for f in arrow])


def dataset_doc(meta: Any, data_dir: str | Path, val_folds: tuple[int, ...]) -> dict[str, str]:
    """The search's dataset input as MLflow's dataset fields (kept in search.json, so every
    trial run logs the same input): digest = `dataset_checksum`, rows per split and per fold, the
    validation folds and the training/validation row counts in the profile."""
    location = normalize(data_dir)
    address = location.partition("?")[0]  # never the store's options (endpoints, keys)
    val_rows = sum(meta.fold_rows[f] for f in val_folds if 0 <= f < len(meta.fold_rows))
    total = int(meta.rows.get("total", sum(meta.fold_rows)))
    profile = {"num_rows": total, "rows": dict(meta.rows), "n_folds": meta.n_folds,
               "fold_rows": list(meta.fold_rows), "validation_folds": list(val_folds),
               "train_rows": total - val_rows, "validation_rows": val_rows,
               "targets": list(meta.targets), "seq_len": dict(meta.seq_len),
               "format": meta.source.get("format", "")}
    with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local path
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(address)
    dataset = ShardedDataset(source, name=address.rstrip("/").rsplit("/", 1)[-1],
                             digest=dataset_checksum(meta), schema=_schema(meta, location),
                             profile=profile)
    return dataset.to_dict()


def dataset_input(doc: dict[str, str]) -> DatasetInput:
    """The MLflow dataset input of a `dataset_doc`."""
    fields = ("name", "digest", "source_type", "source", "schema", "profile")
    dataset = Dataset(**{k: doc.get(k) for k in fields})
    return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, DATA_CONTEXT)])
