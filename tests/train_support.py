"""Helpers for the training tests: small real-data datasets and tiny specs."""

from __future__ import annotations

from pathlib import Path

from prixfixe_blocks.spec import BlockSpec, ModelSpec, make_strategy
from search.cli import main as cli_main
from tests.spec_support import tiny_params


def make_dream_dataset(shared_data: Path, out: Path, rows: int | None = None,
                       folds: int = 5) -> Path:
    """Convert the first `rows` of the real DREAM sample (with the plasmid) into a dataset."""
    source = shared_data / "dream" / "train_sample.txt"
    if rows is not None:
        subset = out.parent / f"{out.name}.txt"
        lines = source.read_text().splitlines()[:rows]
        subset.write_text("\n".join(lines) + "\n")
        source = subset
    code = cli_main(["data", "convert", str(source), "--format", "dream", "--out", str(out),
                     "--plasmid", str(shared_data / "dream" / "plasmid.json"),
                     "--folds", str(folds)])
    assert code == 0, "data convert failed"
    return out


def tiny_spec(first: str = "bhi", core: str = "autosome", final: str = "autosome",
              **strategy: object) -> ModelSpec:
    """A spec with every block at its registry `tiny` params and a quick strategy."""
    base = {"encoding": "autosome", "target": "softbin", "batch_size": 64, "epochs": 2,
            "batches_per_epoch": 3, "lr": 0.005}
    return ModelSpec(
        first=BlockSpec(first, tiny_params("first", first)),
        core=BlockSpec(core, tiny_params("core", core)),
        final=BlockSpec(final, tiny_params("final", final)),
        strategy=make_strategy({**base, **strategy}),
    )
