"""Refit's ensemble by selection: which refit models (and whether the k-mer ridge) to combine,
and with what weights, chosen on validation rows (greedy forward selection with replacement,
prixfixe_blocks/evaluation/selection.py).

The refit models are trained on train + val, so their own validation predictions are in-sample.
Each candidate is therefore judged by a stand-in trained on the train rows only: a
configuration by the model its search trial kept (its best epoch, in the trial's last Tune
checkpoint), the ridge by a ridge fitted on the train rows. The chosen weights then apply to
what refit trained on train + val: a configuration's weight to each of its seeds' refit models,
the ridge's to a ridge fitted on train + val, saved in the ensemble directory (no pickle).
Each of those is calibrated to its stand-in's mean and spread on the validation rows
(prixfixe_blocks/evaluation/calibration.py), so every member keeps the share of the mix that
was validated (a refit model spread 7x wider than its search model no longer takes 7x it).
Configurations whose search model is gone (Tune's files deleted) or whose refit models are
missing are not candidates; with no model candidate at all there is no selection (None).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from ray import tune

from prixfixe_blocks.data.format.splits import TRAIN, VAL
from prixfixe_blocks.data.read.parts import split_loader
from prixfixe_blocks.evaluation.baseline import READ_BATCH, Baseline, fit_baseline
from prixfixe_blocks.evaluation.calibration import Calibration, calibrate
from prixfixe_blocks.evaluation.ensemble import RIDGE, save_weighted_ensemble
from prixfixe_blocks.evaluation.ridge_io import save_kmer_ridge
from prixfixe_blocks.evaluation.selection import PRUNE, Selection, select_ensemble
from prixfixe_blocks.training.export import load_model, load_predictor, trained_on
from search.experiment import BEST_MODEL_DIR, ENSEMBLE_DIR, ExperimentDir
from search.refit.record import member_key

SELECTION = "selection"  # refit.json: what the selection chose (plan[SELECTION])
FAR_SCALE = 2.0  # a member rescaled by more than this (or less than its inverse) is reported


@dataclass(frozen=True)
class Validation:
    """The validation rows' sequences and each candidate's stand-in predictions on them: what
    the selection judged, and what the chosen members are calibrated to."""

    sequences: pa.ChunkedArray
    stand_ins: dict[str, np.ndarray]


def validation_rows(data_dir: str, targets: list[str], val_folds: tuple[int, ...]) -> pa.Table:
    """The validation rows the search scored its trials on (`sequence` + targets)."""
    loader = split_loader(data_dir, VAL, val_folds=val_folds, batch_size=READ_BATCH,
                          columns=["sequence", *targets], shuffle=False)
    return pa.Table.from_batches(list(loader.epoch(0)))


def search_model_predictions(exp: ExperimentDir, configs: dict[str, str],
                             seqs: pa.ChunkedArray) -> dict[str, np.ndarray]:
    """Validation predictions of each configuration's search model (config key -> Tune trial
    id); configurations whose trial has no checkpoint with a model are left out."""
    if not tune.Tuner.can_restore(exp.tune_path):
        return {}
    by_id = {t.trial_id: t for t in tune.ExperimentAnalysis(exp.tune_path).trials}
    out = {}
    for key, trial_id in configs.items():
        trial = by_id.get(trial_id)
        checkpoint = trial.checkpoint if trial is not None else None
        if checkpoint is None:
            continue
        try:
            with checkpoint.as_directory() as ckpt:
                source = Path(ckpt) / BEST_MODEL_DIR
                if source.is_dir():
                    out[key] = load_model(source, device="cpu").predict(seqs)
        except FileNotFoundError:  # the checkpoint's files were removed
            continue
    return out


def select_refit(exp: ExperimentDir, plan: dict[str, Any], models: dict[str, Path],
                 targets: list[str], val_folds: tuple[int, ...]
                 ) -> tuple[Selection, Validation] | None:
    """Run (and print) the selection over the refit's configurations (those with every seed
    refit) and the ridge; with the stand-ins' validation predictions it was made on."""
    ready = {c["key"]: c["trial_id"] for c in plan["configs"]
             if all(member_key(c["key"], s) in models for s in plan["seeds"])}
    rows = validation_rows(plan["data_dir"], targets, val_folds)
    seqs = rows.column("sequence")
    preds = search_model_predictions(exp, ready, seqs)
    if not preds:
        return None
    ridge = fit_baseline(plan["data_dir"], targets, val_folds, part=TRAIN)
    preds[RIDGE] = ridge.model.predict(seqs)
    labels = np.column_stack([rows.column(t).to_numpy() for t in targets])
    selection = select_ensemble(preds, labels)
    print(selection_text(selection, rows.num_rows))
    return selection, Validation(seqs, preds)


def write_selected(exp: ExperimentDir, plan: dict[str, Any], models: dict[str, Path],
                   selection: Selection, ridge: Baseline, info: dict[str, Any],
                   validation: Validation | None = None) -> Path:
    """The ensemble directory of the selection: each chosen configuration's seeds at its
    weight, the ridge (fitted on train + val, saved beside them) at its weight times the seed
    count, so the shares are the selection's; each member calibrated to its stand-in on the
    validation rows when `validation` is given."""
    root = exp.path(ENSEMBLE_DIR)
    seeds = plan["seeds"]
    members: list[tuple[Path, float]] = []
    names: list[str] = []  # the candidate each member stands for
    for name, weight in selection.weights.items():
        if name == RIDGE:
            some = trained_on(next(iter(models.values())))
            members.append((save_kmer_ridge(root / RIDGE, ridge.model, some),
                            float(weight * len(seeds))))
            names.append(name)
        else:
            members += [(models[member_key(name, s)], float(weight)) for s in seeds]
            names += [name] * len(seeds)
    if RIDGE not in selection.weights:
        shutil.rmtree(root / RIDGE, ignore_errors=True)  # a previous selection's
    calibrations = None
    if validation is not None:
        by_name = _calibrations(names, [p for p, _ in members], validation, ridge)
        calibrations = [by_name[name] for name in names]
        print(calibration_text(list(by_name), list(by_name.values())))
    return save_weighted_ensemble(root, members, {**info, SELECTION: selection_record(
        selection)}, calibrations)


def _calibrations(names: list[str], paths: list[Path], validation: Validation,
                  ridge: Baseline) -> dict[str, Calibration]:
    """Candidate name -> the calibration of its members: the mean of a configuration's seeds
    (what stands in the mix for its search model) mapped onto that model's validation
    predictions; the map is affine, so each seed gets the same one."""
    seqs, own = validation.sequences, {}
    for name, path in zip(names, paths, strict=True):
        pred = ridge.model.predict(seqs) if name == RIDGE else load_predictor(
            path, device="cpu").predict(seqs)
        own.setdefault(name, []).append(np.asarray(pred, np.float64))
    return {name: calibrate(validation.stand_ins[name], np.mean(preds, axis=0))
            for name, preds in own.items()}


def calibration_text(names: list[str], calibrations: list[Calibration]) -> str:
    """What refit prints of the calibration: the candidates rescaled far from 1."""
    farthest = [(name, max(c.scale, key=lambda v: abs(math.log(max(v, 1e-12)))))
                for name, c in zip(names, calibrations, strict=True)]
    far = [f"{name} x{s:.2g}" for name, s in farthest if not 1 / FAR_SCALE <= s <= FAR_SCALE]
    head = ("members calibrated to their stand-ins' mean and spread on validation rows (the "
            "shares the selection validated)")
    return head + (f"; rescaled most: {', '.join(far)}" if far else "; none rescaled beyond "
                   f"x{1 / FAR_SCALE:g}-x{FAR_SCALE:g}")


def selection_record(selection: Selection) -> dict[str, Any]:
    """What refit.json, ensemble.json and MLflow keep of a selection."""
    return {"weights": selection.weights, "val_pearson": selection.score,
            "single_val_pearson": selection.single, "rounds": len(selection.history),
            "describe": selection.describe(), "best_single": selection.best_single,
            "shares": selection.shares, "pruned": list(selection.pruned)}


def selection_text(selection: Selection, n_rows: int | None = None) -> str:
    """What refit prints: the members and weights, and plainly when the ridge alone wins."""
    best = selection.best_single
    rows = f" ({n_rows:,} rows)" if n_rows else ""
    lines = [f"ensemble chosen on validation{rows} by greedy forward selection: "
             f"{selection.describe()} (val r {selection.score:.4f}; best single: {best} "
             f"{selection.single[best]:.4f})"]
    if selection.pruned:
        lines.append(f"left out (val r below {PRUNE:g} x the best's): "
                     + ", ".join(f"{name} {selection.single[name]:.4f}"
                                 for name in selection.pruned))
    if set(selection.weights) == {RIDGE}:
        lines.append("the k-mer ridge alone wins on validation: no refit model (nor any mix "
                     "with one) scored higher, so the ensemble is the k-mer ridge")
    return "\n".join(lines)
