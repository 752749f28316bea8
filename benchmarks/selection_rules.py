"""Refit's ensemble-selection rules compared on saved searches, paired: the same trained models,
chosen by each rule, scored on the test rows.

For each finished search given (`run` + `refit` done, e.g. under benchmarks/held_out.py's
`--work`/runs), the candidates are judged as refit judges them: each refit configuration by its
search model and the ridge by a ridge fitted on the train rows, on the validation rows. Each
rule's ensemble of the refit models (each calibrated to its stand-in, as refit does; the ridge
fitted on train + val) is then scored on the test rows (the simulated suite's `all` subset for
simulated data), with:
- `pruned`: refit's rule (greedy forward selection, candidates below half the best left out);
- `greedy`: the same without pruning (refit before this version);
- `standardised`: greedy, no pruning, over standardised candidates (each weight a share);
- `best`: the configuration best on validation alone; `ridge`: the ridge (train + val).
About 30 s per search on 2 cores (loading its models, fitting two ridges), little memory.

    .venv/bin/python benchmarks/selection_rules.py /tmp/pho/runs/*-3m-s3 /tmp/pho/runs/*-3m-s4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prixfixe_blocks.data.format.splits import FIT, TEST, TRAIN  # noqa: E402
from prixfixe_blocks.data.format.suite_tsv import read_suite  # noqa: E402
from prixfixe_blocks.data.read.parts import split_loader  # noqa: E402
from prixfixe_blocks.evaluation.baseline import READ_BATCH, fit_baseline  # noqa: E402
from prixfixe_blocks.evaluation.calibration import calibrate  # noqa: E402
from prixfixe_blocks.evaluation.ensemble import RIDGE  # noqa: E402
from prixfixe_blocks.evaluation.selection import mean_pearson, select_ensemble  # noqa: E402
from prixfixe_blocks.training.export import load_predictor  # noqa: E402
from search.experiment import ENSEMBLE_DIR, REFIT_FILE, SEARCH_FILE, open_experiment  # noqa: E402
from search.refit.record import member_key  # noqa: E402
from search.refit.select import search_model_predictions, validation_rows  # noqa: E402

RULES = ("pruned", "greedy", "standardised", "best", "ridge")
SUITE = Path("test_suite") / "suite.tsv"  # where `data simulate` writes the simulated suite


def test_rows(data_dir: str, targets: list[str]) -> tuple[pa.Array, np.ndarray]:
    """The test sequences and labels: the simulated suite (distinct sequences, mean
    measurement, as `evaluate` scores it) when the dataset has one, else its test split."""
    suite = Path(data_dir) / SUITE
    if suite.is_file():
        parsed = read_suite(suite)
        return parsed.sequences, parsed.measured
    loader = split_loader(data_dir, TEST, batch_size=READ_BATCH, columns=["sequence", *targets],
                          shuffle=False)
    table = pa.Table.from_batches(list(loader.epoch(0)))
    return table.column("sequence"), np.column_stack([table.column(t) for t in targets])


def weighted(preds: dict[str, np.ndarray], weights: dict[str, int]) -> np.ndarray:
    return sum(w * preds[name] for name, w in weights.items()) / sum(weights.values())


def compare(root: Path) -> dict[str, float]:
    """Each rule's test r on the search in `root`."""
    plan = json.loads((root / REFIT_FILE).read_text())
    options = json.loads((root / SEARCH_FILE).read_text())["options"]
    members = {p.name: p for p in (root / ENSEMBLE_DIR / "members").iterdir()}
    targets = list(load_predictor(next(iter(members.values())), device="cpu").targets)
    data, folds = plan["data_dir"], tuple(options["val_folds"])
    ready = {c["key"]: c["trial_id"] for c in plan["configs"]
             if all(member_key(c["key"], s) in members for s in plan["seeds"])}
    rows = validation_rows(data, targets, folds)
    seqs, y = rows.column("sequence"), np.column_stack([rows.column(t) for t in targets])
    stand = search_model_predictions(open_experiment(str(root.parent), root.name), ready, seqs)
    best = max(stand, key=lambda name: mean_pearson(stand[name], y))
    stand[RIDGE] = fit_baseline(data, targets, folds, part=TRAIN).model.predict(seqs)
    test_seqs, test_y = test_rows(data, targets)
    ridge = fit_baseline(data, targets, part=FIT).model
    test: dict[str, np.ndarray] = {}
    for name in stand:  # refit's models: calibrated to the stand-in, as refit writes them
        own = [ridge] if name == RIDGE else [load_predictor(members[member_key(name, s)],
                                                            device="cpu") for s in plan["seeds"]]
        cal = calibrate(stand[name], np.mean([m.predict(seqs) for m in own], axis=0))
        test[name] = cal.apply(np.mean([m.predict(test_seqs) for m in own], axis=0))
    z = {name: (p - p.mean(axis=0)) / p.std(axis=0) for name, p in stand.items()
         if np.ptp(p) > 0}
    z_test = {name: (test[name] - stand[name].mean(axis=0)) / stand[name].std(axis=0)
              for name in z}
    chosen = {"pruned": (select_ensemble(stand, y), test),
              "greedy": (select_ensemble(stand, y, prune=0), test),
              "standardised": (select_ensemble(z, y, prune=0), z_test)}
    scores = {rule: mean_pearson(weighted(preds, sel.weights), test_y)
              for rule, (sel, preds) in chosen.items()}
    return {**scores, "best": mean_pearson(test[best], test_y),
            "ridge": mean_pearson(test[RIDGE], test_y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished, refit search directories")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    print(f"{len(args.runs)} searches: about {len(args.runs) * 30} s on 2 cores", flush=True)
    results = {}
    print("| search | " + " | ".join(RULES) + " |\n|" + " --- |" * (len(RULES) + 1))
    for root in args.runs:
        results[root.name] = compare(root)
        print(f"| {root.name} | " + " | ".join(f"{results[root.name][r]:.4f}" for r in RULES)
              + " |", flush=True)
    for rule in ("pruned", "standardised"):
        diff = [r[rule] - r["greedy"] for r in results.values()]
        below = sum(r[rule] < r["ridge"] for r in results.values())
        print(f"{rule} - greedy: median {np.median(diff):+.4f}, range [{min(diff):+.4f}, "
              f"{max(diff):+.4f}], mean {np.mean(diff):+.4f}; below the ridge in {below} of "
              f"{len(diff)} (greedy: {sum(r['greedy'] < r['ridge'] for r in results.values())})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
