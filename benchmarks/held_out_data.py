"""The held-out benchmark's datasets and how each model is scored on their test rows.

Every dataset is made with the CLI a user would run (`data convert` / `data split` /
`data simulate`) under the benchmark's work directory. Real samples are scored on their test
split (`evaluate --data D --split test`): Pearson r per target, averaged. The simulated one is
scored on its test suite (`evaluate --suite`): the weighted DREAM Pearson score and r on all
sequences, beside the noise-free truth's r with the labels (the ceiling).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CLI = [sys.executable, "-m", "search.cli"]
SIMULATED_ROWS = 8_000  # DREAM-like rows: a few minutes of tiny-width passes on 2 cores


@dataclass(frozen=True)
class Dataset:
    """A prepared dataset: its directory, and for simulated data its test suite."""

    name: str
    path: Path
    suite: Path | None = None
    pairs: Path | None = None


def cli(*args: str, log: Path | None = None) -> None:
    """Run `prixfixe-search ARGS` (output to `log` when given); raise when it fails."""
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") if log else open("/dev/null", "w") as out:  # noqa: SIM115
        code = subprocess.run([*CLI, *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              check=False).returncode
    if code != 0:
        raise RuntimeError(f"prixfixe-search {' '.join(args)} exited {code}"
                           + (f" (see {log})" if log else ""))


def prepare(name: str, work: Path) -> Dataset:
    """Convert (or simulate) the dataset `name` into `work/data/NAME` unless it is there."""
    path = work / "data" / name
    done = (path / "dataset.json").is_file()
    if name == "dream":
        if not done:
            cli("data", "convert", str(SHARED / "dream" / "train_sample.txt"), "--format",
                "dream", "--plasmid", str(SHARED / "dream" / "plasmid.json"), "--out", str(path))
        if not json.loads((path / "dataset.json").read_text()).get("splits"):
            cli("data", "split", str(path), "--test-fraction", "0.1")
        return Dataset(name, path)
    if name in ("deepstarr", "lentimpra"):
        folder, val = ("drosophila", "val") if name == "deepstarr" else ("human", "valid")
        files = [str(SHARED / folder / f"sample_{s}.txt") for s in ("train", val, "test")]
        if not done:
            cli("data", "convert", *files, "--format", name, "--file-splits", "train,val,test",
                "--out", str(path))
        return Dataset(name, path)
    if name == "simulated":
        if not done:
            cli("data", "simulate", "--rows", str(SIMULATED_ROWS), "--out", str(path),
                "--seed", "0")
        return Dataset(name, path, path / "test_suite" / "suite.tsv",
                       path / "test_suite" / "pairs.tsv")
    raise SystemExit(f"error: unknown dataset {name} (dream, deepstarr, lentimpra, simulated)")


def score(model: Path, data: Dataset, out: Path) -> dict[str, Any]:
    """`evaluate` of `model` on the dataset's test rows (the k-mer ridge beside it); figures."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if data.suite is not None:
        cli("evaluate", "--model", str(model), "--suite", str(data.suite), "--pairs",
            str(data.pairs), "--json", str(out))
    else:
        cli("evaluate", "--model", str(model), "--data", str(data.path), "--split", "test",
            "--json", str(out))
    return figures(json.loads(out.read_text()))


def figures(doc: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of an evaluate JSON, for the model and for the ridge."""
    def pick(d: dict[str, Any]) -> dict[str, Any]:
        if "subsets" in d:
            return {"r": d["subsets"]["all"]["pearson"], "dream_score": d["pearson_score"]}
        return {"r": d["pearson"], **{f"r_{k}": v["pearson"] for k, v in d["targets"].items()}}

    return {"model": pick(doc), "ridge": pick(doc["kmer_ridge_baseline"])}


def truth_ceiling(data: Dataset) -> float | None:
    """The noise-free truth's r with the measured labels on the simulated suite."""
    if data.suite is None:
        return None
    from search.commands.demo import truth_ceiling as ceiling

    return ceiling(data.suite)
