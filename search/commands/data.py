"""Handlers of `prixfixe-search data convert | simulate | split | info`: the parsed arguments
to the data library's plain functions, and what they print."""

from __future__ import annotations

import argparse
import sys

from prixfixe_blocks.data.format.schema import open_dataset, summary, verify_dataset
from prixfixe_blocks.data.format.splits import TRAIN
from prixfixe_blocks.data.format.suite_tsv import SUITE_DIR
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.data.store.files import DatasetFiles
from prixfixe_blocks.data.write.convert import convert
from prixfixe_blocks.data.write.formats import input_format
from prixfixe_blocks.data.write.resplit import split_dataset


def cli_convert(args: argparse.Namespace) -> int:
    """``data convert``: run the conversion and print a one-line summary."""
    fmt = input_format(args.format, args.sequence_col, args.target_cols, args.split_col)
    inputs = args.input if isinstance(args.input, list) else [args.input]
    file_splits = ([s.strip() for s in args.file_splits.split(",")] if args.file_splits
                   else None)
    result = convert(inputs, args.out, fmt, plasmid=args.plasmid, shard_rows=args.shard_rows,
                     chunk_rows=args.chunk_rows, n_folds=args.folds,
                     skip_invalid=args.skip_invalid, overwrite=args.overwrite,
                     progress=sys.stderr.isatty() or args.progress, file_splits=file_splits)
    print(f"wrote {result.rows:,} rows to {args.out}")
    if result.rejected or args.skip_invalid:
        print(f"rejected {result.rejected:,} invalid rows -> {result.rejects_path}")
    if result.splits:
        print("splits: " + ", ".join(f"{k} {v:,}" for k, v in result.splits.items()))
    if fmt.split_col and not file_splits and result.splits.get(TRAIN) == result.rows:
        print(f"note: column '{fmt.split_col}' puts every row in 'train' (no val or test rows); "
              "if the inputs are separate train/val/test files, convert them with "
              "--file-splits train,val,test")
    return 0


def cli_simulate(args: argparse.Namespace) -> int:
    """``data simulate``: generate the dataset and print rows and rows/s."""
    result = simulate(args.out, args.rows, seed=args.seed, test_rows=args.test_rows,
                      shard_rows=args.shard_rows, overwrite=args.overwrite)
    rate = result["rows"] / max(result["seconds"], 1e-9)
    print(f"wrote {result['rows']:,} rows (+ {SUITE_DIR}/) to {args.out} "
          f"in {result['seconds']:.1f} s ({rate:,.0f} rows/s)")
    return 0


def cli_split(args: argparse.Namespace) -> int:
    """``data split``: assign splits and print the counts."""
    meta = split_dataset(args.dataset, args.test_fraction, args.val_fraction, seed=args.seed,
                         overwrite=args.overwrite)
    total = meta.rows["total"]
    shares = ", ".join(f"{k} {v:,} ({v / total:.1%})" for k, v in meta.splits.items())
    print(f"split {args.dataset}: {shares}; seed {args.seed}")
    return 0


def cli_info(args: argparse.Namespace) -> int:
    """``data info``: print the summary; with --verify also check every shard's checksum."""
    files = DatasetFiles(args.dataset)
    meta = open_dataset(files)
    print(summary(meta))
    if args.verify:
        verify_dataset(files, meta)
        print(f"verified: {len(meta.shards)} shard(s), checksums and row counts match")
    return 0
