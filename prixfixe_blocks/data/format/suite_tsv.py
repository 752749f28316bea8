"""Test suites for `evaluate`: a suite TSV of measured sequences and a pairs TSV.

Suite TSV (tab-separated, a header line): `sequence` (ACGTN, any case), a measurement column
(`expression` unless the caller names another) and `subset` (one or more subset names separated
by commas); other columns are allowed and ignored. Every row also counts in the subset `all`.
A sequence listed more than once gets the mean of its measurements.

Pairs TSV (tab-separated, a header line): `subset` (one or more names, comma-separated), `ref`
and `alt`: two sequences of the suite whose measured and predicted differences (alt - ref) are
compared. One sequence may be in many pairs.

The simulator writes its test suite in this format (`SUITE_DIR/SUITE_FILE`, `PAIRS_FILE`;
`simulate/simulated_suite.py` generates it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.format.validate import check_sequences, parse_floats, upper_sequences
from prixfixe_blocks.errors import DataError

SUITE_DIR = "test_suite"  # the simulator's suite, inside its dataset directory
SUITE_FILE = "suite.tsv"
PAIRS_FILE = "pairs.tsv"
ALL = "all"
DEFAULT_MEASURE = "expression"
PAIR_COLUMNS = ("subset", "ref", "alt")


@dataclass(frozen=True)
class Suite:
    """A parsed suite: its distinct sequences, their mean measurement, subset memberships
    (indices into `sequences`, `all` included) and pairs per subset (ref, alt indices)."""

    path: str
    measure: str
    n_rows: int
    sequences: pa.Array
    measured: np.ndarray
    members: dict[str, np.ndarray]
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]
    pairs_path: str | None = None


@dataclass(frozen=True)
class _Table:
    """Named string columns of a TSV and the physical line number of each row."""

    path: str
    columns: dict[str, list[str]]
    lines: np.ndarray

    def error(self, row: int, field: str, message: str) -> DataError:
        return DataError(message, path=self.path, line=int(self.lines[row]), field=field)


def _read_tsv(path: str | Path, required: Sequence[str]) -> _Table:
    """The `required` columns of a headed TSV (blank lines skipped); DataError naming the file,
    line and field for a missing file or column or a row with the wrong number of fields."""
    where = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise DataError("file not found", path=where) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read: {err}", path=where) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError("empty file (expected a header line)", path=where, line=1)
    header = [name.strip() for name in lines[0].split("\t")]
    for name in required:
        if name not in header:
            raise DataError(f"missing column (the header has: {', '.join(header)})",
                            path=where, line=1, field=name)
    picks = [header.index(name) for name in required]
    columns: dict[str, list[str]] = {name: [] for name in required}
    numbers = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"expected {len(header)} tab-separated fields, got {len(fields)}",
                            path=where, line=number)
        for name, pick in zip(required, picks, strict=True):
            columns[name].append(fields[pick].strip())
        numbers.append(number)
    if not numbers:
        raise DataError("no rows after the header", path=where)
    return _Table(where, columns, np.asarray(numbers))


def _subset_lists(table: _Table) -> list[list[str]]:
    """Each row's subset names (comma-separated, blanks dropped); DataError for an empty one."""
    out = []
    for row, field in enumerate(table.columns["subset"]):
        names = [name.strip() for name in field.split(",") if name.strip()]
        if not names:
            raise table.error(row, "subset", "no subset name (one or more, comma-separated)")
        out.append(names)
    return out


def _sequences(table: _Table, column: str) -> pa.Array:
    upper = upper_sequences(pa.array(table.columns[column], pa.string()))
    bad = check_sequences(upper)
    if bad:
        row = min(bad)
        raise table.error(row, column, bad[row])
    return upper


def _groups(lists: list[list[str]], index: np.ndarray) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for names, i in zip(lists, index.tolist(), strict=True):
        for name in names:
            groups.setdefault(name, []).append(i)
    return groups


def read_suite(path: str | Path, *, measure: str = DEFAULT_MEASURE,
               pairs: str | Path | None = None) -> Suite:
    """Parse and check a suite TSV (and its pairs TSV); DataError naming file, line, field."""
    table = _read_tsv(path, ("sequence", measure, "subset"))
    upper = _sequences(table, "sequence")
    values, bad = parse_floats(pa.array(table.columns[measure], pa.string()))
    if bad:
        row = min(bad)
        raise table.error(row, measure, bad[row])
    lists = _subset_lists(table)
    unique = pc.unique(upper)
    index = pc.index_in(upper, value_set=unique).to_numpy(zero_copy_only=False).astype(np.int64)
    measured = np.bincount(index, weights=values) / np.bincount(index)
    members = {ALL: np.arange(len(unique))}
    for name, rows in _groups(lists, index).items():
        if name != ALL:  # every row is in `all` already
            members[name] = np.unique(np.asarray(rows))
    pair_sets = _read_pairs(pairs, unique, table.path) if pairs is not None else {}
    return Suite(table.path, measure, len(index), unique, measured, members, pair_sets,
                 None if pairs is None else str(pairs))


def _read_pairs(path: str | Path, unique: pa.Array, suite_path: str
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    table = _read_tsv(path, PAIR_COLUMNS)
    lists = _subset_lists(table)
    ends = []
    for column in ("ref", "alt"):
        upper = upper_sequences(pa.array(table.columns[column], pa.string()))
        found = pc.index_in(upper, value_set=unique)
        if found.null_count:
            row = int(np.flatnonzero(found.is_null().to_numpy(zero_copy_only=False))[0])
            raise table.error(row, column, f"sequence not in the suite {suite_path}")
        ends.append(found.to_numpy(zero_copy_only=False).astype(np.int64))
    out = {}
    for name, rows in _groups(lists, np.arange(len(lists))).items():
        out[name] = (ends[0][rows], ends[1][rows])
    return out


def write_suite(directory: Path, sequences: Sequence[str], measures: dict[str, np.ndarray],
                subsets: Sequence[str], pairs: Sequence[tuple[str, str, str]]) -> None:
    """Write SUITE_FILE (sequence, the `measures` columns, subset) and PAIRS_FILE (subset, ref,
    alt) into `directory`, each atomically."""
    names = list(measures)
    rows = ["\t".join(["sequence", *names, "subset"])]
    values = np.column_stack([np.asarray(measures[n], np.float64) for n in names])
    for seq, row, subset in zip(sequences, values.tolist(), subsets, strict=True):
        rows.append("\t".join([seq, *(f"{v:.7g}" for v in row), subset]))
    atomic_write_text(directory / SUITE_FILE, "\n".join(rows) + "\n")
    lines = ["\t".join(PAIR_COLUMNS), *("\t".join(p) for p in pairs)]
    atomic_write_text(directory / PAIRS_FILE, "\n".join(lines) + "\n")
