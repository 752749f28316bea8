"""The subcommands' arguments of `prixfixe-search`, each subcommand set to its handler."""

from __future__ import annotations

import argparse

from prixfixe_blocks.ranges import WIDTHS
from search.commands import handlers


def _add_plugin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin", dest="plugins", action="append", default=[], metavar="PATH",
        help="a Python file (or module) that registers extra blocks or strategy components; "
        "repeatable",
    )


def _add_schedule(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schedule", default="pass", metavar="{pass,published}",
        help="epoch length: one pass over the training rows (default), or the published "
        "schedule's batches per epoch (DREAM presets: 1000 x 1024, meant for 6.7M rows)",
    )
    parser.add_argument("--batches-per-epoch", type=int, default=None,
                        help="batches per epoch (overrides --schedule)")


def add_data(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="convert, simulate and inspect sharded-Parquet datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    conv = dsub.add_parser(
        "convert",
        help="convert a DREAM / DeepSTARR / lentiMPRA / TSV / CSV file into a dataset directory",
        description="Stream INPUT in chunks into Parquet shards plus dataset.json. Output is "
        "written under a temporary name and renamed only when complete.",
    )
    conv.add_argument(
        "input", nargs="+",
        help="input file(s) or URIs, concatenated in order, plain or .gz/.bz2/.zst compressed "
        "(dream: sequence<TAB>expression, no header; e.g. DeepSTARR train/val/test with "
        "--file-splits train,val,test)",
    )
    conv.add_argument(
        "--format", required=True, choices=["dream", "deepstarr", "lentimpra", "tsv", "csv"]
    )
    conv.add_argument("--out", required=True,
                      help="output dataset directory or URI, e.g. s3://bucket/data/dream "
                      "(must not exist)")
    conv.add_argument("--sequence-col", help="tsv/csv: name of the sequence column")
    conv.add_argument("--target-cols", help="tsv/csv: comma-separated target column names")
    where = conv.add_mutually_exclusive_group()
    where.add_argument(
        "--split-col", metavar="NAME",
        help="column holding each row's split: train / val / test (also training, valid, "
        "validation, dev, testing; any case); deepstarr reads 'set' unless told otherwise",
    )
    where.add_argument(
        "--file-splits", metavar="SPLITS",
        help="the split of each input file, in order, e.g. train,val,test (the files' own "
        "split column is then not read)",
    )
    conv.add_argument("--plasmid", help="plasmid JSON/FASTA/text with the insert slot as N*80")
    conv.add_argument("--shard-rows", type=int, default=1_000_000, help="rows per shard")
    conv.add_argument("--chunk-rows", type=int, default=65_536,
                      help="about how many rows are read and validated at a time (bounds memory)")
    conv.add_argument("--folds", type=int, default=10, help="number of hash folds")
    conv.add_argument(
        "--skip-invalid", action="store_true",
        help="write bad rows to OUT.rejects.tsv instead of stopping at the first one",
    )
    conv.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    conv.add_argument("--progress", action="store_true",
                      help="print rows/s to stderr every few seconds (default: when a terminal)")
    conv.set_defaults(handler=handlers.data_convert)

    sim = dsub.add_parser(
        "simulate",
        help="generate DREAM-like data with a known ground truth (and a matching test suite)",
    )
    sim.add_argument("--rows", type=int, required=True, help="training rows")
    sim.add_argument("--out", required=True, help="output dataset directory or URI")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--test-rows", type=int, default=None, help="rows per test subset")
    sim.add_argument("--shard-rows", type=int, default=1_000_000)
    sim.add_argument("--overwrite", action="store_true")
    sim.set_defaults(handler=handlers.data_simulate)

    spl = dsub.add_parser(
        "split",
        help="give a dataset a train/val/test split column from a hash of each sequence",
        description="Rows go to test / val / train by a seeded hash of the sequence; a sequence, "
        "its duplicates and its reverse complement always share a split. The dataset is "
        "rewritten atomically (a failure leaves it as it was). Training and searches never "
        "read test rows and validate on val rows when there are any.",
    )
    spl.add_argument("dataset", help="dataset directory or URI (rewritten in place)")
    spl.add_argument("--test-fraction", type=float, required=True,
                     help="share of rows held out as test, in [0, 1)")
    spl.add_argument("--val-fraction", type=float, default=0.0,
                     help="share of rows for validation, in [0, 1) (default 0: validation "
                     "then uses the hash folds of the train rows)")
    spl.add_argument("--seed", type=int, default=0, help="another seed, another split")
    spl.add_argument("--overwrite", action="store_true",
                     help="replace an existing split column")
    spl.set_defaults(handler=handlers.data_split)

    info = dsub.add_parser("info", help="print a dataset's dataset.json summary and verify shards")
    info.add_argument("dataset", help="dataset directory or URI")
    info.add_argument("--verify", action="store_true", help="recompute shard checksums")
    info.set_defaults(handler=handlers.data_info)


def add_train_predict(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train one Prix Fixe model (a preset or any combination)")
    tr.add_argument("--data", required=True, help="dataset directory")
    tr.add_argument("--preset", default="dream-cnn", help="preset name (see `presets`)")
    tr.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a spec field, e.g. core=bhi, core.hidden=64, strategy.lr=0.002",
    )
    tr.add_argument("--width", choices=WIDTHS, default="published",
                    help="block widths, as `run --width`: tiny and small train in a fraction "
                    "of the published width's time (--set values win)")
    tr.add_argument("--epochs", type=int, default=None,
                    help="default: the preset's (with --time-budget: the most epochs)")
    tr.add_argument("--time-budget", default=None, metavar="DURATION",
                    help="e.g. 90s, 10m: time one batch on this machine and train as many "
                    "epochs as fit (at most --epochs or the preset's), said before it starts")
    _add_schedule(tr)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--val-folds", default="0",
                    help="comma-separated validation folds (used when the dataset has no val "
                    "split; test rows are never read)")
    tr.add_argument("--out", required=True, help="model directory to write")
    tr.add_argument("--tracking-uri", default=None, help="MLflow URI (default: SQLite by --out)")
    tr.add_argument("--experiment", default="prixfixe-train")
    tr.add_argument("--device", default="auto", help="auto|cpu|cuda")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint if present")
    _add_plugin(tr)
    tr.set_defaults(handler=handlers.train)

    pr = sub.add_parser("predict", help="predict expression for sequences with a trained model")
    pr.add_argument("--model", required=True, help="model directory (from train or a search)")
    pr.add_argument("--input", required=True, help="one sequence per line, or TSV/CSV (first col)")
    pr.add_argument("--out", required=True, help="output TSV: sequence<TAB>prediction")
    pr.add_argument("--batch-size", type=int, default=1024)
    pr.add_argument("--device", default="auto")
    _add_plugin(pr)
    pr.set_defaults(handler=handlers.predict)

    ps = sub.add_parser("presets", help="list presets, blocks and strategy components")
    ps.set_defaults(handler=handlers.presets)


def add_search(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run an architecture/hyperparameter search (Ray Tune+Optuna)")
    run.add_argument("--data", required=True,
                     help="dataset directory or URI (s3://, gs://, ...): trials read it from "
                     "there through each node's shard cache")
    run.add_argument("--space", default="prixfixe", help="prixfixe | prixfixe-grid | FILE.yaml|.py")
    run.add_argument("--trials", type=int, default=None,
                     help="number of trials (default 20; with --sampler grid: the whole grid)")
    run.add_argument("--epochs", type=int, default=None,
                     help="passes per trial, the most ASHA gives (default 10, or the budget's)")
    run.add_argument("--name", required=True, help="search name (= MLflow experiment)")
    run.add_argument("--sampler", choices=["tpe", "random", "grid", "nsga2"], default="tpe",
                     help="tpe (multi-objective TPE with --objective r,params), random, grid, "
                     "nsga2 (NSGA-II, for --objective r,params)")
    run.add_argument("--scheduler", choices=["asha", "none"], default="asha")
    run.add_argument("--grace-period", type=int, default=None, metavar="EPOCHS",
                     help="ASHA's first rung (default: the epoch after the LR warm-up, "
                     "ceil(0.3 x epochs) + 1)")
    run.add_argument("--max-concurrent", type=int, default=None)
    run.add_argument("--gpus-per-trial", type=float, default=None,
                     help="GPUs per trial (0.5: two trials share one; 0: CPU only); default: 1 "
                     "when the cluster has or can start GPUs (docs/SEARCH.md)")
    run.add_argument("--cpus-per-trial", type=float, default=1.0)
    run.add_argument("--storage", default="runs", help="local path or object-store URI")
    run.add_argument("--tracking-uri", default=None, help="default: sqlite:///STORAGE/mlflow.db")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--time-budget", default=None, metavar="DURATION",
                     help="the whole search's time (600, 90s, 30m, 1h30m), counted over "
                     "resumes. Alone (no --width, --epochs or --trials) it plans the search: "
                     "the widths, passes, trials and trials at a time this machine affords")
    run.add_argument("--address", default=None, help="existing Ray cluster (e.g. auto)")
    run.add_argument(
        "--fix", action="append", default=[], metavar="KEY=VALUE",
        help="pin a space parameter, e.g. core=bhi or lr=0.001",
    )
    _add_schedule(run)
    run.add_argument("--width", choices=WIDTHS, default=None,
                     help="block widths (default published, or the budget's)")
    run.add_argument("--max-epochs", type=int, default=None, metavar="N",
                     help="with --time-budget alone: the most passes the plan may give a "
                     "trial (default: search.run.budget.MAX_EPOCHS)")
    run.add_argument("--no-enqueue-presets", action="store_true")
    run.add_argument("--objective", choices=["r", "r,params"], default="r", metavar="r|r,params",
                     help="r: maximise validation Pearson r; r,params: also minimise the "
                     "parameter count (multi-objective: a Pareto front; early stopping off)")
    run.add_argument("--max-params", type=int, default=None, metavar="N",
                     help="never train a configuration with more than N parameters (sampled "
                     "again instead)")
    run.add_argument("--register", default=None, metavar="NAME",
                     help="register the best model in the MLflow model registry as NAME")
    run.add_argument("--dry-run", action="store_true",
                     help="check the search, print its plan and time estimate, and exit")
    _add_plugin(run)
    run.set_defaults(handler=handlers.run)

    res = sub.add_parser("resume", help="resume an interrupted search from its checkpoints")
    res.add_argument("name")
    res.add_argument("--storage", default="runs")
    res.add_argument("--tracking-uri", default=None)
    res.add_argument("--address", default=None)
    res.set_defaults(handler=handlers.resume)

    st = sub.add_parser("status", help="finished / running / pending counts and the best trial")
    st.add_argument("name")
    st.add_argument("--storage", default="runs")
    st.set_defaults(handler=handlers.status)

    add_after_search(sub)

    demo = sub.add_parser(
        "demo", help="the README's main job: simulate data and run a small local search"
    )
    demo.add_argument("--dir", default="demo", help="where data, runs and MLflow go")
    demo.add_argument("--rows", type=int, default=4_000, help="simulated training rows")
    demo.add_argument("--time-budget", default="150s", metavar="DURATION",
                      help="the search's budget; the planner picks widths, passes and trials")
    demo.add_argument("--trials", type=int, default=None, help="fix the trials (no planning)")
    demo.add_argument("--epochs", type=int, default=None, help="fix the passes (no planning)")
    demo.set_defaults(handler=handlers.demo)


def add_after_search(sub: argparse._SubParsersAction) -> None:
    refit = sub.add_parser(
        "refit", help="retrain a finished search's best configurations on train + val, "
        "select an ensemble of them and score it on the test split",
        description="The K best configurations (and the presets the search ran) are retrained "
        "with S seeds each on train + val for the epoch count each reached its best at, as "
        "Ray Tune trials (resumable) with nested MLflow runs; greedy forward selection on "
        "validation predictions (Caruana et al. 2004; the k-mer ridge is a candidate) picks "
        "the ensemble's members and weights (STORAGE/NAME/refit/ensemble), and everything is "
        "scored on the test split beside the k-mer ridge baseline.")
    refit.add_argument("name", help="a finished search")
    refit.add_argument("--top", type=int, default=None, help="configurations to refit "
                       "(default 3)")
    refit.add_argument("--seeds", type=int, default=None, help="seeds per configuration "
                       "(default 2)")
    refit.add_argument("--resume", action="store_true",
                       help="continue an interrupted refit (rerunning the command does too)")
    refit.add_argument("--no-presets", action="store_true",
                       help="do not refit the presets the search ran for comparison")
    refit.add_argument("--storage", default="runs")
    refit.add_argument("--address", default=None, help="existing Ray cluster (e.g. auto)")
    refit.set_defaults(handler=handlers.refit)

    rep = sub.add_parser(
        "report", help="what mattered in a search: importances, best r per choice, curves, "
        "Pareto front, refit test table (files + MLflow parent run)")
    rep.add_argument("name", help="a search")
    rep.add_argument("--storage", default="runs")
    rep.set_defaults(handler=handlers.report)


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "evaluate", help="score a model beside a k-mer ridge baseline on a suite or a dataset",
        description="Pearson / Spearman (and MSE per target on a dataset; per subset and the "
        "weighted DREAM scores on a suite) of the model and of a k-mer ridge baseline fitted "
        "on the training rows of the model's dataset (or --baseline-data).",
    )
    ev.add_argument("--model", required=True, help="model directory (from train or a search)")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="dataset directory: score its rows, per target")
    source.add_argument("--suite", help="suite TSV: sequence, a measurement and subset columns")
    ev.add_argument("--split", help="with --data: only this split's rows (e.g. test)")
    ev.add_argument("--pairs", help="with --suite: pairs TSV (subset, ref, alt sequences)")
    ev.add_argument("--measure", help="with --suite: the measurement column (default expression)")
    ev.add_argument("--baseline-data", help="dataset whose training rows fit the baseline "
                    "(default: the model's training dataset)")
    ev.add_argument("--json", dest="json_out", metavar="FILE", help="also write the figures")
    ev.add_argument("--batch-size", type=int, default=1024)
    ev.add_argument("--device", default="auto")
    _add_plugin(ev)
    ev.set_defaults(handler=handlers.evaluate)
