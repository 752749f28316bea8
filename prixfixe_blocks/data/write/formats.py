"""The input formats ``data convert`` reads: delimiter, header, and which columns mean what
(DREAM, DeepSTARR and lentiMPRA built in; ``tsv`` / ``csv`` with named columns)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from prixfixe_blocks.data.format.splits import canonical_split
from prixfixe_blocks.errors import ConfigError


@dataclass(frozen=True)
class InputFormat:
    """How to read one input format: delimiter, header, and which columns mean what.

    ``split_col``: an input column of train/val/test values (``splits.ALIASES`` spellings);
    ``file_split``: the split of every row of the file being read (``--file-splits``).
    """

    name: str
    delimiter: str
    sequence_col: str
    target_cols: tuple[str, ...]
    header: bool = True
    column_names: tuple[str, ...] = ()
    split_col: str | None = None
    fold_col: str | None = None
    singleton: bool = False
    file_split: str | None = None

    @property
    def needed(self) -> list[str]:
        extra = [c for c in (self.split_col, self.fold_col) if c]
        return [self.sequence_col, *self.target_cols, *extra]


FORMATS = {
    "dream": InputFormat("dream", "\t", "sequence", ("expression",), header=False,
                         column_names=("sequence", "expression"), singleton=True),
    "deepstarr": InputFormat("deepstarr", "\t", "Sequence",
                             ("Dev_log2_enrichment", "Hk_log2_enrichment"), split_col="set"),
    "lentimpra": InputFormat("lentimpra", "\t", "seq", ("mean_value",), fold_col="fold"),
}


def input_format(name: str, sequence_col: str | None = None, target_cols: str | None = None,
                 split_col: str | None = None) -> InputFormat:
    """The InputFormat for a --format name (tsv/csv need --sequence-col and --target-cols;
    ``split_col`` replaces the format's own split column, e.g. DeepSTARR's ``set``)."""
    if name in FORMATS:
        fmt = FORMATS[name]
    elif name not in ("tsv", "csv"):
        raise ConfigError(f"unknown format {name!r}")
    elif not sequence_col or not target_cols:
        raise ConfigError(f"--format {name} needs --sequence-col and --target-cols")
    else:
        targets = tuple(t.strip() for t in target_cols.split(",") if t.strip())
        fmt = InputFormat(name, "\t" if name == "tsv" else ",", sequence_col, targets)
    if split_col is None:
        return fmt
    if not fmt.header:
        raise ConfigError(f"--split-col needs a format with a header line; --format {name} has "
                          "none (use --file-splits)")
    return replace(fmt, split_col=split_col)


def with_file_splits(fmt: InputFormat, paths: Sequence[str | Path],
                     file_splits: Sequence[str] | None) -> list[InputFormat]:
    """One InputFormat per input: with ``file_splits``, each file's rows get its split and the
    format's split column is not read."""
    if file_splits is None:
        return [fmt] * len(paths)
    if len(file_splits) != len(paths):
        raise ConfigError(f"--file-splits: {len(file_splits)} split(s) for {len(paths)} input "
                          "file(s); give one per input, in order")
    return [replace(fmt, split_col=None, file_split=canonical_split(s, "--file-splits"))
            for s in file_splits]
