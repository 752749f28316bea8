"""The DREAM presets vs a 1- to 6-mer ridge on the shared real DREAM sample, same budget.

The sample (6,370 rows) is converted, a fixed 10% is held out as the test split (`data split`,
stable hash, reverse complements together), and each preset is trained on the rest (its own
hash fold for validation and best-epoch selection) for the same number of passes at the chosen
width. Each preset's best-epoch model and the k-mer ridge (fitted on the same training rows)
are scored on the held-out rows with `evaluate`'s own functions. Nothing is tuned on them.

    .venv/bin/python benchmarks/real_sample.py --width small --epochs 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.blocks.registry import width_params
from prixfixe_blocks.data.write.resplit import split_dataset
from prixfixe_blocks.param_names import ParamName
from prixfixe_blocks.presets import get_preset
from prixfixe_blocks.spec import ROLES, ModelSpec
from prixfixe_blocks.training.fit import fit
from prixfixe_blocks.training.trainer import Trainer
from search.cli import main as cli_main
from search.commands.evaluate import evaluate_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dream"
PRESETS = ("dream-cnn", "dream-rnn", "dream-attn")


def preset_at(name: str, width: str, epochs: int, batch_size: int) -> ModelSpec:
    """The preset with its blocks at `width`, `epochs` one-pass epochs of `batch_size`."""
    spec = get_preset(name)
    scaled = {ParamName(role, key).spec_key: value for role in ROLES
              for key, value in width_params(role, spec.block(role).name, width).items()}
    return spec.with_overrides({**scaled, "strategy.epochs": epochs,
                                "strategy.batch_size": batch_size,
                                "strategy.batches_per_epoch": None})


def prepare(shared: Path, out: Path, test_fraction: float, seed: int) -> Path:
    """Convert the sample and hold out `test_fraction` of it as the test split."""
    code = cli_main(["data", "convert", str(shared / "train_sample.txt"), "--format", "dream",
                     "--out", str(out), "--plasmid", str(shared / "plasmid.json")])
    if code != 0:
        raise SystemExit(f"data convert failed ({code})")
    split_dataset(out, test_fraction, seed=seed)
    return out


def run_preset(name: str, data: Path, args: argparse.Namespace, work: Path) -> dict:
    """Train one preset, then score its best epoch on the test split beside the ridge."""
    spec = preset_at(name, args.width, args.epochs, args.batch_size)
    trainer = Trainer(spec, data, seed=args.seed, log=lambda _m: None)
    start = time.perf_counter()
    best = fit(trainer, work / name, epochs=args.epochs,
               on_epoch=lambda m, _b: print(f"  {name} epoch {m['epoch']}: val r "
                                           f"{m['val_pearson']:.3f}", flush=True))
    seconds = time.perf_counter() - start
    scores = evaluate_model(work / name, data=str(data), split="test").to_json()
    return {"preset": name, "parameters": count_parameters(trainer.model),
            "val_pearson": best.val_pearson, "best_epoch": best.epoch,
            "test_pearson": scores["pearson"], "test_spearman": scores["spearman"],
            "ridge_test_pearson": scores["kmer_ridge_baseline"]["pearson"],
            "ridge_test_spearman": scores["kmer_ridge_baseline"]["spearman"],
            "train_seconds": seconds}


def main() -> None:
    """Print the table (and write it as JSON with --out)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the DREAM sample folder")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--width", default="small", choices=["tiny", "small", "published"])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training rows")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="prixfixe-real-") as tmp:
        data = prepare(args.shared, Path(tmp) / "dream", args.test_fraction, args.seed)
        print(f"DREAM sample, {args.test_fraction:.0%} held out; presets at width {args.width}, "
              f"{args.epochs} passes, batch {args.batch_size}, seed {args.seed}")
        for name in args.presets.split(","):
            rows.append(run_preset(name, data, args, Path(tmp)))
    print(f"\n{'model':<12}{'params':>10}{'val r':>8}{'test r':>8}{'test rho':>10}"
          f"{'ridge r':>9}{'ridge rho':>10}{'minutes':>9}")
    for r in rows:
        print(f"{r['preset']:<12}{r['parameters']:>10,}{r['val_pearson']:>8.3f}"
              f"{r['test_pearson']:>8.3f}{r['test_spearman']:>10.3f}"
              f"{r['ridge_test_pearson']:>9.3f}{r['ridge_test_spearman']:>10.3f}"
              f"{r['train_seconds'] / 60:>9.1f}")
    print("(ridge: 1- to 6-mer counts fitted on the same training rows; test = held-out rows)")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                        "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
