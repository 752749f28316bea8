"""``data convert``: stream DREAM / DeepSTARR / lentiMPRA / TSV / CSV files into a dataset.

The input is read in blocks by Arrow's streaming CSV reader (all columns as strings, one row per
physical line), validated chunk by chunk (``format/validate.py``) and written shard by shard
(``write/writer.py``), so memory is bounded by ``--chunk-rows`` whatever the file size. The
first bad row stops the conversion with a ``DataError`` naming file, line and field; with
``skip_invalid`` bad rows go to ``OUT.rejects.tsv`` instead.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from prixfixe_blocks.data.format.plasmid import load_plasmid
from prixfixe_blocks.data.format.schema import stable_fold
from prixfixe_blocks.data.format.splits import (
    SPLIT_COLUMN,
    canonical_splits,
)
from prixfixe_blocks.data.format.validate import (
    RowError,
    check_sequences,
    merge_errors,
    parse_floats,
    parse_ints,
    upper_sequences,
)
from prixfixe_blocks.data.store.location import as_location, is_uri, normalize
from prixfixe_blocks.data.write.formats import InputFormat, with_file_splits
from prixfixe_blocks.data.write.inputs import open_text, read_error
from prixfixe_blocks.data.write.publish import dataset_output, upload_file
from prixfixe_blocks.data.write.writer import DatasetWriter, replace_path, temp_sibling
from prixfixe_blocks.errors import DataError

HEAD_BYTES = 1 << 20  # decompressed bytes read to find the header and line length
REJECTS_SUFFIX = ".rejects.tsv"



@dataclass
class _LineTracker:
    """Maps parsed rows back to physical line numbers around rows Arrow rejected."""

    next_line: int
    rejected: list[RowError] = field(default_factory=list)
    _skip_ptr: int = 0
    _report_ptr: int = 0

    def handler(self) -> Callable[[pacsv.InvalidRow], str]:
        """An Arrow invalid_row_handler that records the row and skips it."""
        def on_invalid(row: pacsv.InvalidRow) -> str:
            message = f"expected {row.expected_columns} columns, found {row.actual_columns}"
            self.rejected.append(RowError(row.number, "columns", message, row.text))
            return "skip"
        return on_invalid

    def take(self, n: int) -> np.ndarray:
        """Line numbers of the next ``n`` parsed rows."""
        out = np.empty(n, np.int64)
        i, line = 0, self.next_line
        while i < n:
            skip = (self.rejected[self._skip_ptr].line if self._skip_ptr < len(self.rejected)
                    else line + n + 1)
            k = min(n - i, skip - line)
            out[i: i + k] = np.arange(line, line + k)
            i, line = i + k, line + k
            if i < n:
                line, self._skip_ptr = line + 1, self._skip_ptr + 1
        self.next_line = line
        return out

    def rejected_upto(self, line: int | None) -> list[RowError]:
        """Column-count errors at or before ``line`` (all remaining if None), reported once."""
        out = []
        while self._report_ptr < len(self.rejected) and (
                line is None or self.rejected[self._report_ptr].line <= line):
            out.append(self.rejected[self._report_ptr])
            self._report_ptr += 1
        return out


def _header(path: str | Path, fmt: InputFormat) -> tuple[list[str], int]:
    """Column names (read from line 1 for header formats; checks required columns exist) and the
    byte length of the first lines (to size the reader's blocks)."""
    stream, codec = open_text(path)
    try:
        with stream:
            head = stream.read(HEAD_BYTES)
    except OSError as err:
        raise read_error(path, codec, err) from None
    lines = head.split(b"\n", 2)
    first = lines[0].decode("utf-8", errors="replace")
    if not first.strip():
        raise DataError("empty file (no rows)", path=str(path), line=1)
    line_bytes = max(len(line) + 1 for line in lines[:2])
    if not fmt.header:
        return list(fmt.column_names), line_bytes
    names = first.rstrip("\r\n").lstrip("\ufeff").split(fmt.delimiter)
    for col in fmt.needed:
        if col not in names:
            raise DataError(f"missing column {col!r} (header has {names})",
                            path=str(path), line=1, field=col)
    return names, line_bytes


def _open_reader(path: str | Path, fmt: InputFormat, names: list[str], block: int,
                 tracker: _LineTracker) -> tuple[pacsv.CSVStreamingReader, str | None]:
    """Arrow's streaming CSV reader over the (decompressed) input: every needed column as a
    string, one row per line; returns the reader and the input's compression."""
    read = pacsv.ReadOptions(column_names=names, skip_rows=1 if fmt.header else 0,
                             block_size=block, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=fmt.delimiter, quote_char='"' if fmt.name == "csv"
                               else False, ignore_empty_lines=False,
                               invalid_row_handler=tracker.handler())
    conv = pacsv.ConvertOptions(include_columns=fmt.needed,
                                column_types={c: pa.string() for c in fmt.needed},
                                strings_can_be_null=False, quoted_strings_can_be_null=False)
    stream, codec = open_text(path)
    try:
        return pacsv.open_csv(stream, read_options=read, parse_options=parse,
                              convert_options=conv), codec
    except pa.ArrowInvalid as err:
        raise DataError(f"cannot parse: {err}", path=str(path)) from None
    except OSError as err:
        raise read_error(path, codec, err) from None


def _batches(reader: pacsv.CSVStreamingReader, path: str | Path,
             codec: str | None) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as err:
            if codec and "ompress" in str(err):
                raise read_error(path, codec, err) from None
            raise DataError(f"cannot parse: {err}", path=str(path)) from None
        except OSError as err:
            raise read_error(path, codec, err) from None
        yield batch


def _convert_batch(batch: pa.RecordBatch, lines: np.ndarray, fmt: InputFormat,
                   n_folds: int) -> tuple[pa.Table, list[RowError]]:
    """Validate one chunk; return the good rows in dataset columns and the bad rows."""
    seqs = upper_sequences(batch[fmt.sequence_col])
    checks: list[tuple[str, dict[int, str]]] = [(fmt.sequence_col, check_sequences(seqs))]
    targets = {}
    for col in fmt.target_cols:
        targets[col], bad = parse_floats(batch[col])
        checks.append((col, bad))
    if fmt.fold_col:
        folds, bad = parse_ints(batch[fmt.fold_col], 0, n_folds - 1)
        checks.append((fmt.fold_col, bad))
    if fmt.split_col:
        splits, bad = canonical_splits(batch[fmt.split_col])
        checks.append((fmt.split_col, bad))
    errors = []
    if any(bad for _, bad in checks):
        texts = [fmt.delimiter.join(map(str, r.values()))
                 for r in batch.select(fmt.needed).to_pylist()]
        errors = merge_errors(lines, checks, texts)
    keep = np.ones(batch.num_rows, bool)
    keep[[i for _, bad in checks for i in bad]] = False
    seqs = seqs.filter(pa.array(keep))
    cols: dict[str, pa.Array] = {"sequence": seqs}
    for col, values in targets.items():
        cols[col] = pa.array(values[keep].astype(np.float32))
    cols["fold"] = pa.array(folds[keep].astype(np.int8) if fmt.fold_col
                            else stable_fold(seqs, n_folds))
    if fmt.singleton:
        expr = targets[fmt.target_cols[0]][keep]
        cols["is_singleton"] = pa.array((expr == np.round(expr)).astype(np.int8))
    if fmt.split_col:
        cols[SPLIT_COLUMN] = splits.filter(pa.array(keep))
    elif fmt.file_split:
        cols[SPLIT_COLUMN] = pa.array([fmt.file_split] * len(seqs), pa.string())
    return pa.table(cols), errors


class _Progress:
    """Rows/s to stderr every ``every`` seconds (only when enabled)."""

    def __init__(self, enabled: bool, every: float = 5.0) -> None:
        self.enabled, self.every = enabled, every
        self.t0 = self.last = time.perf_counter()

    def update(self, rows: int) -> None:
        now = time.perf_counter()
        if self.enabled and now - self.last >= self.every:
            self.last = now
            rate = rows / max(now - self.t0, 1e-9)
            print(f"data convert: {rows:,} rows ({rate:,.0f} rows/s)", file=sys.stderr)


@dataclass
class ConvertResult:
    """What a conversion did: rows written, rows rejected and where they went."""

    rows: int
    rejected: int
    rejects_path: str | Path | None
    splits: dict[str, int] = field(default_factory=dict)


def rejects_path_for(out: str | Path) -> str | Path:
    """Where --skip-invalid writes the rejected rows: ``OUT.rejects.tsv`` beside OUT."""
    if is_uri(out):
        base, sep, query = normalize(out).partition("?")
        return f"{base}{REJECTS_SUFFIX}{sep}{query}"
    out = Path(out)
    return out.with_name(out.name + REJECTS_SUFFIX)


def convert(inputs: list[str | Path], out: str | Path, fmt: InputFormat, *,
            plasmid: str | Path | None = None, shard_rows: int = 1_000_000,
            chunk_rows: int = 65_536, n_folds: int = 10, skip_invalid: bool = False,
            overwrite: bool = False, progress: bool = False,
            file_splits: Sequence[str] | None = None) -> ConvertResult:
    """Convert input files or URIs (plain, gzip, bzip2 or zstd; concatenated in order) into a
    dataset at ``out`` (a directory or a URI); ``file_splits`` gives each input's split
    (train/val/test), in order."""
    paths = [as_location(p) for p in inputs]
    formats = with_file_splits(fmt, paths, file_splits)
    flanks = load_plasmid(plasmid) if plasmid else None
    source = {"format": fmt.name, "input": str(paths[0]) if len(paths) == 1 else
              [str(p) for p in paths], "sequence_col": fmt.sequence_col,
              "plasmid_file": str(plasmid) if plasmid else None,
              "split_from": list(file_splits) if file_splits else fmt.split_col}
    rejects = rejects_path_for(out)
    rejects_tmp = (Path(tempfile.mkstemp(prefix="prixfixe-rejects-", suffix=".tsv")[1])
                   if is_uri(out) else temp_sibling(Path(rejects)))
    n_rejected = 0
    ticker = _Progress(progress)
    try:
        with dataset_output(out, overwrite) as local_out, \
                DatasetWriter(local_out, targets=list(fmt.target_cols), n_folds=n_folds,
                              source=source, plasmid=flanks, shard_rows=shard_rows) as writer, \
                open(rejects_tmp, "w") if skip_invalid else _NullFile() as rej:
            if skip_invalid:
                rej.write("file\tline\tfield\terror\trow\n")
            for path, file_fmt in zip(paths, formats, strict=True):
                for table, errors in _convert_file(path, file_fmt, chunk_rows, n_folds):
                    if errors and not skip_invalid:
                        e = errors[0]
                        raise DataError(e.message, path=str(path), line=e.line, field=e.field)
                    for e in errors:
                        rej.write(f"{path}\t{e.line}\t{e.field}\t{e.message}\t{e.text}\n")
                    n_rejected += len(errors)
                    if table is not None:
                        writer.write(table)
                    ticker.update(writer.rows)
            meta = writer.commit({"rejected_rows": n_rejected})
        if skip_invalid and is_uri(out):
            upload_file(rejects_tmp, str(rejects))
        elif skip_invalid:
            replace_path(rejects_tmp, Path(rejects))
    finally:
        rejects_tmp.unlink(missing_ok=True)
    return ConvertResult(writer.rows, n_rejected, rejects if skip_invalid else None, meta.splits)


def _convert_file(path: str | Path, fmt: InputFormat, chunk_rows: int,
                  n_folds: int) -> Iterator[tuple[pa.Table | None, list[RowError]]]:
    """Yield (good rows, errors in line order) per chunk of one input file."""
    names, line_bytes = _header(path, fmt)
    tracker = _LineTracker(next_line=2 if fmt.header else 1)
    block = int(min(max(chunk_rows * line_bytes, 1 << 16), 1 << 28))
    reader, codec = _open_reader(path, fmt, names, block, tracker)
    rows = 0
    for batch in _batches(reader, path, codec):
        lines = tracker.take(batch.num_rows)
        table, errors = _convert_batch(batch, lines, fmt, n_folds)
        last = int(lines[-1]) if len(lines) else 0
        errors = sorted(errors + tracker.rejected_upto(last), key=lambda e: e.line)
        rows += batch.num_rows
        yield table, errors
    tail = tracker.rejected_upto(None)
    if tail:
        yield None, tail
    if rows == 0 and not tail:
        raise DataError("empty file (no rows)", path=str(path))


class _NullFile:
    """A do-nothing writable context (rejects file when --skip-invalid is off)."""

    def __enter__(self) -> _NullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, text: str) -> int:
        return len(text)

