"""Reading sequences to predict and writing predictions (the `predict` command's file formats).

Input: one raw sequence per line, or a TSV/CSV whose first column is the sequence; a header is
detected by a first field that is not a valid sequence. Output: `sequence<TAB>prediction` per
input row in input order (one column per target, under a header, when there are several).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.format.schema import ALPHABET
from prixfixe_blocks.data.format.validate import check_sequences, upper_sequences
from prixfixe_blocks.errors import DataError

_VALID = re.compile(f"[{ALPHABET}{ALPHABET.lower()}]+")


def _delimiter(first_line: str) -> str | None:
    if "\t" in first_line:
        return "\t"
    return "," if "," in first_line else None


def _first_field(line: str, delim: str | None) -> str:
    return (line.split(delim, 1)[0] if delim else line).strip().strip('"')


def read_sequences(path: str | Path) -> list[str]:
    """Sequences from a plain, TSV or CSV file (first column), in file order, validated."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError("input file not found", path=str(path)) from None
    except (UnicodeDecodeError, OSError) as err:
        raise DataError(f"cannot read: {err}", path=str(path)) from None
    if not lines:
        raise DataError("no sequences (empty file)", path=str(path))
    delim = _delimiter(lines[0])
    first = _first_field(lines[0], delim)
    has_header = bool(first) and _VALID.fullmatch(first) is None
    field = first if has_header else "sequence"
    seqs = [_first_field(line, delim) for line in (lines[1:] if has_header else lines)]
    if not seqs:
        raise DataError("no sequences after the header", path=str(path))
    # The data layer's vectorized alphabet check: one definition of a valid sequence.
    errors = check_sequences(upper_sequences(pa.array(seqs, pa.string())))
    if errors:
        row = min(errors)
        raise DataError(errors[row], path=str(path), line=row + 1 + int(has_header), field=field)
    return seqs


def format_predictions(seqs: Sequence[str], preds: np.ndarray, targets: Sequence[str]) -> str:
    """TSV text: `sequence<TAB>prediction` rows; a header naming the targets when several."""
    preds = np.asarray(preds).reshape(len(seqs), -1)
    rows = []
    if preds.shape[1] > 1:
        rows.append("\t".join(["sequence", *targets]))
    rows.extend(
        "\t".join([seq, *(f"{v:.6g}" for v in row)])
        for seq, row in zip(seqs, preds.tolist(), strict=True)
    )
    return "\n".join(rows) + "\n"


def write_predictions(path: str | Path, seqs: Sequence[str], preds: np.ndarray,
                      targets: Sequence[str]) -> None:
    """Write the predictions TSV atomically (temporary name, then rename)."""
    atomic_write_text(Path(path), format_predictions(seqs, preds, targets))
