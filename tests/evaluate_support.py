"""Helpers for the evaluation tests: a simulated dataset with a train / val / test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.simulate.simulator import N_FOLDS, TARGET, simulated_flanks, train_chunk
from prixfixe_blocks.data.write.writer import DatasetWriter

SPLIT_OF_FOLD = {0: "val", 1: "test"}  # the other folds are "train"


def split_dataset(out: Path, rows: int, seed: int = 0) -> Path:
    """Simulated rows with a `split` column: fold 0 val, fold 1 test, the rest train."""
    table = train_chunk(seed, 0, rows)
    split = [SPLIT_OF_FOLD.get(f, "train") for f in table.column("fold").to_pylist()]
    table = table.append_column("split", pa.array(split, pa.string()))
    with DatasetWriter(out, targets=[TARGET], n_folds=N_FOLDS, source={"format": "test"},
                       plasmid=simulated_flanks(seed), split_column="split") as writer:
        writer.write(table)
        writer.commit()
    assert np.isin(["train", "val", "test"], split).all()
    return out
