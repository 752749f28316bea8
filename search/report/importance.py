"""What mattered in a search: hyperparameter importances from Optuna's own evaluators.

The study's scored trials are its complete ones (their value) and its pruned ones with an
intermediate value (the best r they reached before the scheduler stopped them, as Optuna's TPE
counts them); for a multi-objective study the complete ones, on validation r. Block fields are
conditional (`core.bhi.hidden` exists only where core = bhi), so the report has three views:

- fANOVA (`FanovaImportanceEvaluator`) over the parameters every scored trial has: the block
  choices per role (`first`, `core`, `final`) and the strategy components and fields;
- PED-ANOVA (`PedAnovaImportanceEvaluator`, when this Optuna has it) over every parameter,
  conditional ones included (Conditional PED-ANOVA): what it takes to reach the top quantile;
- per role choice: fANOVA over the trials that chose that block (e.g. core = bhi), on the
  parameters they all have: which of that block's fields mattered.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from prixfixe_blocks.spec import ROLES
from search.study.objectives import was_trained

MIN_TRIALS = 3  # fewer scored trials than this: no importances (and the report says so)
PED_TOP_TRIALS = 5  # PED-ANOVA's top quantile holds at least this many trials where it can
FANOVA, PED_ANOVA = "fanova", "ped_anova"


def scored_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's scored trials as single-objective COMPLETE trials on validation r: complete
    ones (several objectives: their first value, r) and pruned ones with an intermediate
    value (its last: the best r they reached); proposals never trained left out."""
    multi = len(study.directions) > 1
    out = []
    for trial in study.get_trials(deepcopy=False):
        if not was_trained(trial):  # a rejected or repeated proposal: no evidence
            continue
        if trial.state == TrialState.COMPLETE:
            value = trial.values[0]
        elif not multi and trial.state == TrialState.PRUNED and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        else:
            continue
        if math.isfinite(value):
            out.append(optuna.trial.create_trial(
                params=trial.params, distributions=trial.distributions, value=value,
                user_attrs=trial.user_attrs))
    return out


def _study_of(trials: list[FrozenTrial], direction: str) -> optuna.Study:
    """An in-memory study holding `trials` (what the evaluators read)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" per view
    study = optuna.create_study(direction=direction)
    study.add_trials(trials)
    return study


def _evaluators(n_trials: int) -> dict[str, Any]:
    """fANOVA, and PED-ANOVA when this Optuna has it (its top quantile sized to hold at least
    PED_TOP_TRIALS trials, between 10% and 50%)."""
    found: dict[str, Any] = {FANOVA: optuna.importance.FanovaImportanceEvaluator(seed=0)}
    ped = getattr(optuna.importance, "PedAnovaImportanceEvaluator", None)
    if ped is not None:
        quantile = min(0.5, max(0.1, PED_TOP_TRIALS / max(n_trials, 1)))
        found[PED_ANOVA] = ped(target_quantile=quantile)
    return found


def _importances(study: optuna.Study, evaluator: Any, params: list[str]) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = optuna.importance.get_param_importances(study, evaluator=evaluator,
                                                        params=params)
    return {k: float(v) for k, v in found.items()}


def _varying(trials: list[FrozenTrial], names: set[str]) -> list[str]:
    """The names among `names` that take more than one value in `trials`."""
    return sorted(n for n in names if len({repr(t.params.get(n)) for t in trials}) > 1)


def _common(trials: list[FrozenTrial]) -> set[str]:
    return set.intersection(*(set(t.params) for t in trials))


def param_importances(study: optuna.Study | None) -> dict[str, Any]:
    """`overall` (evaluator -> param -> importance), `per_choice` ("core=bhi" -> param ->
    fANOVA importance), `trials` (how many were scored) and `notes` (what was left out)."""
    result: dict[str, Any] = {"overall": {}, "per_choice": {}, "trials": 0, "notes": []}
    if study is None:
        result["notes"].append("no Optuna study (journal) found")
        return result
    trials = scored_trials(study)
    result["trials"] = len(trials)
    if len(trials) < MIN_TRIALS:
        result["notes"].append(f"{len(trials)} scored trials: importances need at least "
                               f"{MIN_TRIALS}")
        return result
    direction = study.directions[0].name.lower()
    pool = _study_of(trials, direction)
    everything = set().union(*(t.params for t in trials))
    for name, evaluator in _evaluators(len(trials)).items():
        params = _varying(trials, everything if name == PED_ANOVA else _common(trials))
        try:
            if params:
                result["overall"][name] = _importances(pool, evaluator, params)
        except (ValueError, RuntimeError) as err:
            result["notes"].append(f"{name} not computed: {err}")
    conditional = sorted(everything - _common(trials))
    if conditional:
        result["notes"].append(f"fANOVA overall uses the parameters every scored trial has; "
                               f"{len(conditional)} conditional ones (the chosen blocks' "
                               "fields) are in PED-ANOVA and in the per-choice view")
    for role in ROLES:
        for block in sorted({str(t.params[role]) for t in trials if role in t.params}):
            chosen = [t for t in trials if str(t.params.get(role)) == block]
            names = _varying(chosen, _common(chosen)) if len(chosen) >= MIN_TRIALS else []
            if names:
                result["per_choice"][f"{role}={block}"] = _importances(
                    _study_of(chosen, direction),
                    optuna.importance.FanovaImportanceEvaluator(seed=0), names)
    if len(study.directions) > 1:
        result["notes"].append("multi-objective study: importances for validation r (its "
                               "first objective)")
    return result
