"""Proposals that repeat a trained configuration: told FAIL, then an untried neighbour.

Every trial trains with the search's seed, so a configuration already trained (COMPLETE or
PRUNED) or running would only repeat its result (in a small categorical space TPE proposes the
best cells again and again). Such a proposal is never trained and is no evidence: its Optuna
trial is told FAIL (which TPE and the other samplers ignore) with user attribute `repeat_of`
(the earlier trial's number), and the sampler is asked again (its RNG has advanced).

After `repeats_before_fallback` repeats in a row the next proposal of a model-based sampler
(not RandomSampler: random search stays random) stays near what the sampler wanted without
telling it anything false: an untried neighbour of the repeated configuration (one parameter
changed: another choice of a categorical, the next value of a numeric one within its
distribution) is enqueued and the sampler asked again, so the neighbour's parameters are
fixed and any parameter it does not fix (those of a newly chosen block) is sampled as usual.
The neighbour is drawn with a generator seeded from the search's seed, among the untried (and
not yet proposed) neighbours of the repeated configuration, else of the best trained
configurations in turn; its trial carries user attribute `neighbour_of`. Only when no trained
configuration has an untried neighbour does a random sampler propose; after MAX_REJECTED
repeats in a row the search finishes. Measured against the alternatives: README, "Search
efficiency".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search.optuna import OptunaSearch

from search.study.objectives import REJECTED_ATTR, REPEAT_ATTR

MAX_REJECTED = 200  # samples above --max-params (or repeats) in a row before giving up
REPEATS_BEFORE_FALLBACK = 1  # repeats in a row before a neighbour (or random) proposal
NEIGHBOUR_ATTR = "neighbour_of"  # an Optuna trial's user attribute: the repeat it replaces
FIXED_PARAMS = "fixed_params"  # the system attribute where Optuna keeps an enqueued trial's params
NUMERIC_STEP = 0.1  # a float's neighbours lie this fraction of its (log) range away
NEIGHBOUR, RANDOM = "neighbour", "random"  # fallbacks after repeats (RANDOM: the benchmark's)
TRIED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)

Key = tuple[tuple[str, Any], ...]


def params_key(params: dict[str, Any]) -> Key:
    """A hashable key of a configuration's parameters."""
    return tuple(sorted(params.items()))


def _numeric_neighbours(value: float, dist: IntDistribution | FloatDistribution) -> list[Any]:
    """The values next to `value` (one below, one above) within a numeric distribution: one
    step away on a stepped scale, else NUMERIC_STEP of the range (in log space when log)."""
    step = dist.step
    if step is not None and not dist.log:
        candidates = [value - step, value + step]
    else:
        scale = (math.log if dist.log else float)
        low, high, here = scale(dist.low), scale(dist.high), scale(value)
        delta = NUMERIC_STEP * (high - low)
        back = math.exp if dist.log else float
        candidates = [back(here - delta), back(here + delta)]
        if isinstance(dist, IntDistribution):  # log ints: at least one step away
            candidates = [min(round(candidates[0]), value - 1), max(round(candidates[1]),
                                                                    value + 1)]
    out = []
    for candidate in candidates:
        if isinstance(dist, IntDistribution):
            candidate = int(candidate)
        if dist.low <= candidate <= dist.high and candidate != value:
            out.append(candidate)
    return out


def neighbour_values(value: Any, dist: BaseDistribution) -> list[Any]:
    """The values one move away from `value` in `dist` (the other choices of a categorical)."""
    if isinstance(dist, CategoricalDistribution):
        return [c for c in dist.choices if c != value]
    if isinstance(dist, (IntDistribution, FloatDistribution)):
        return _numeric_neighbours(value, dist)
    return []


def neighbours(trial: FrozenTrial) -> list[dict[str, Any]]:
    """The trial's configuration with one parameter changed, every way (in parameter order)."""
    return [{**trial.params, name: other} for name, value in trial.params.items()
            for other in neighbour_values(value, trial.distributions[name])]


def untried_neighbours(sources: Iterable[FrozenTrial], tried: set[Key]) -> list[dict[str, Any]]:
    """The untried neighbours of the first source that has any (none: an empty list)."""
    for source in sources:
        found = [n for n in neighbours(source) if params_key(n) not in tried]
        if found:
            return found
    return []


def ranked(trials: list[FrozenTrial], maximise: bool) -> list[FrozenTrial]:
    """Trained trials best first, each by its value or (pruned) its best intermediate value;
    trials without either last."""
    def score(trial: FrozenTrial) -> float:
        if trial.values is not None and len(trial.values) == 1:
            return trial.values[0] if maximise else -trial.values[0]
        steps = list(trial.intermediate_values.values())
        if not steps:
            return -math.inf
        return max(steps) if maximise else -min(steps)
    return sorted(trials, key=score, reverse=True)


class RepeatHandling:
    """Mixin of DurableOptunaSearch: repeats told FAIL, then neighbour (or random) proposals.
    Needs OptunaSearch's `_ot_study`, `_ot_trials`, `_mode`, and a NumPy `_fallback` generator
    seeded from the search's seed."""

    repeats_before_fallback = REPEATS_BEFORE_FALLBACK  # (the benchmark's replays vary these)
    fallback = NEIGHBOUR
    _ot_study: Any
    _ot_trials: dict[str, Any]
    _fallback: Any
    _mode: Any

    def _repeat(self, trial_id: str) -> FrozenTrial | None:
        """The trained or running trial (not rejected for its size) that the sampled
        configuration repeats, None if none; a repeat's Optuna trial is told FAIL with
        `repeat_of` and forgotten, so that no sampler counts it and Tune never starts it."""
        trial = self._ot_trials[trial_id]
        earlier = next((t for t in self._ot_study.get_trials(deepcopy=False, states=TRIED_STATES)
                        if t.number != trial.number and t.params == trial.params
                        and REJECTED_ATTR not in t.user_attrs), None)
        if earlier is None:
            return None
        self._ot_trials.pop(trial_id)
        trial.set_user_attr(REPEAT_ATTR, earlier.number)
        self._ot_study.tell(trial, state=TrialState.FAIL)
        return earlier

    def _ask_again(self, trial_id: str, repeated: FrozenTrial, repeats: int) -> dict | str | None:
        """The next proposal after `repeats` repeats in a row (the last of `repeated`): the
        sampler's, or (from `repeats_before_fallback` on) with an untried neighbour's
        parameters fixed, or a random sampler's when no neighbour is left."""
        if repeats < self.repeats_before_fallback:
            return OptunaSearch.suggest(self, trial_id)  # type: ignore[arg-type]
        local = self.fallback == NEIGHBOUR and not isinstance(
            self._ot_study.sampler, optuna.samplers.RandomSampler)  # random search stays so
        neighbour = self._neighbour(repeated) if local else None
        if neighbour is not None:
            self._ot_study.enqueue_trial(neighbour, user_attrs={NEIGHBOUR_ATTR: repeated.number})
            return OptunaSearch.suggest(self, trial_id)  # type: ignore[arg-type]
        sampler = self._ot_study.sampler
        self._ot_study.sampler = optuna.samplers.RandomSampler(
            seed=int(self._fallback.integers(2**31)))
        try:
            return OptunaSearch.suggest(self, trial_id)  # type: ignore[arg-type]
        finally:
            self._ot_study.sampler = sampler

    def _neighbour(self, repeated: FrozenTrial) -> dict[str, Any] | None:
        """An untried neighbour of `repeated`, else of the best trained trials in turn, drawn
        with the seeded generator; None when there is none (or the study has several
        objectives: then only `repeated` is a source). A neighbour proposed before counts as
        tried (its trial's parameters differ from it where it changed a block choice)."""
        tried = self._ot_study.get_trials(deepcopy=False, states=TRIED_STATES)
        keys = {params_key(t.params) for t in tried} | {  # and every neighbour proposed before
            params_key(t.system_attrs.get(FIXED_PARAMS, {}))
            for t in self._ot_study.get_trials(deepcopy=False) if NEIGHBOUR_ATTR in t.user_attrs}
        sources = [repeated]
        if isinstance(self._mode, str):
            trained = [t for t in tried if t.state != TrialState.RUNNING
                       and REJECTED_ATTR not in t.user_attrs]
            sources += ranked(trained, self._mode == "max")
        found = untried_neighbours(sources, keys)
        return found[int(self._fallback.integers(len(found)))] if found else None
