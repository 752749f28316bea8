"""The tabular search benchmark's curve table: one row per (configuration, epoch) of a grid,
with how the table was made in its Parquet metadata (`grid_record.py` writes it, `replay.py`
reads it)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from prixfixe_blocks.atomic import atomic_write
from prixfixe_blocks.errors import DataError

TABLE_SCHEMA = pa.schema([
    ("key", pa.string()),          # canonical JSON of the grid choices (one per configuration)
    ("config", pa.string()),       # the full trial config, JSON
    ("epoch", pa.int32()),         # 1-based
    ("val_pearson", pa.float64()),
    ("test_pearson", pa.float64()),  # the test split's r (judging a pick only, never choosing)
    ("seconds", pa.float64()),     # wall time of that epoch when recorded
    ("n_parameters", pa.int64()),
])


TEST_COLUMN = "test_pearson"  # absent from tables recorded before test scores were kept


def config_key(config: dict[str, Any], dims: Sequence[str]) -> str:
    """The grid cell of a config: its values of the grid's dimensions as canonical JSON."""
    return json.dumps({d: config[d] for d in sorted(dims)}, sort_keys=True)


def write_table(rows: list[dict[str, Any]], path: Path, metadata: dict[str, str]) -> None:
    """Write curve rows (TABLE_SCHEMA columns) with `metadata` (how they were made), atomically."""
    table = pa.Table.from_pylist(rows, schema=TABLE_SCHEMA)
    table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in metadata.items()})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


@dataclass(frozen=True)
class Curves:
    """A recorded grid: per configuration key, its epoch values, epoch seconds, parameters."""

    values: dict[str, tuple[float, ...]]
    seconds: dict[str, tuple[float, ...]]
    params: dict[str, int]
    metadata: dict[str, str]
    tests: dict[str, tuple[float, ...]]  # test r per epoch (NaN where the table has none)

    @property
    def epochs(self) -> int:
        """Epochs per configuration (every curve has the same length)."""
        return len(next(iter(self.values.values())))

    @property
    def grid_trial_epochs(self) -> int:
        """What running the whole grid costs, in trial-epochs."""
        return len(self.values) * self.epochs

    @property
    def best(self) -> float:
        """The grid's best validation r (best epoch of the best configuration)."""
        return max(max(v) for v in self.values.values())


def read_table(path: Path) -> Curves:
    """Load a curve table; DataError naming the file and field when it is not one."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise DataError(f"{path}: not a readable Parquet curve table ({err})") from err
    missing = [f.name for f in TABLE_SCHEMA
               if f.name not in table.column_names and f.name != TEST_COLUMN]
    if missing:
        raise DataError(f"{path}: curve table lacks column(s) {', '.join(missing)}")
    rows = sorted(table.to_pylist(),
                  key=lambda r: (r["key"], r["epoch"]))
    values: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    tests: dict[str, list[float]] = {}
    params: dict[str, int] = {}
    for index, row in enumerate(rows):
        key = row["key"]
        if row["epoch"] != len(values.get(key, [])) + 1:
            raise DataError(f"{path}: row {index + 1}: field 'epoch' is {row['epoch']} for {key},"
                            f" expected {len(values.get(key, [])) + 1} (curves must be complete)")
        value = row["val_pearson"]
        values.setdefault(key, []).append(value if math.isfinite(value) else 0.0)
        seconds.setdefault(key, []).append(float(row["seconds"]))
        test = row.get(TEST_COLUMN)
        tests.setdefault(key, []).append(math.nan if test is None else float(test))
        params[key] = int(row["n_parameters"])
    if not values or len({len(v) for v in values.values()}) != 1:
        raise DataError(f"{path}: curve table is empty or its curves differ in length")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return Curves({k: tuple(v) for k, v in values.items()},
                  {k: tuple(v) for k, v in seconds.items()}, params, meta,
                  {k: tuple(v) for k, v in tests.items()})
