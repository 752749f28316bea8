"""Size-aware search: what a search optimises, and the parameter limit.

`--objective r` (the default) maximises the best validation Pearson r. `--objective r,params`
makes the Optuna study multi-objective: r (maximised) and the model's parameter count
(minimised), through OptunaSearch with a list of metrics; TPE (MOTPE) or NSGA-II then search
for the Pareto front. ASHA ranks trials by one metric, so a multi-objective search runs every
trial to the end (FIFO: early stopping off). `--max-params N` is a constraint instead: the
searcher builds each sampled configuration's model (on CPU, no data), and a configuration above
N parameters is told to Optuna as pruned (user attribute `rejected`) and replaced by another
sample before any trial trains it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prixfixe_blocks.blocks.compose import count_parameters
from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.training.model import build_model
from search.trial.trainable import METRIC, MODE, PARAMS
from spaces.base import config_to_spec

SINGLE, SIZE_AWARE = "r", "r,params"
OBJECTIVES: dict[str, tuple[str, ...]] = {SINGLE: (METRIC,), SIZE_AWARE: (METRIC, PARAMS)}
MODES: dict[str, str] = {METRIC: MODE, PARAMS: "min"}
REJECTED_ATTR = "rejected"  # an Optuna trial's user attribute: why it was never trained
REPEAT_ATTR = "repeat_of"  # ... or which trained / running trial it repeats (told FAIL)


def was_trained(trial: Any) -> bool:
    """Whether an Optuna trial stands for a configuration Tune trained (or trains), not a
    proposal rejected for its size or repeating an earlier trial (never trained)."""
    return REJECTED_ATTR not in trial.user_attrs and REPEAT_ATTR not in trial.user_attrs


def objective_metrics(objective: str) -> tuple[str, ...]:
    """The metrics an objective names (ConfigError for an unknown one)."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective}: expected one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[objective]


def searcher_target(objective: str) -> tuple[str | list[str], str | list[str]]:
    """OptunaSearch's `metric` and `mode`: one name for a single objective, lists for several."""
    metrics = objective_metrics(objective)
    if len(metrics) == 1:
        return metrics[0], MODES[metrics[0]]
    return list(metrics), [MODES[m] for m in metrics]


def scheduler_name(objective: str, scheduler: str) -> str:
    """The scheduler a search runs: FIFO ("none") for several objectives, saying so."""
    if len(objective_metrics(objective)) > 1 and scheduler != "none":
        print(f"--objective {objective}: early stopping is off (ASHA ranks trials by one "
              "metric); every trial runs all its epochs")
        return "none"
    return scheduler


@dataclass
class ParamCounter:
    """Parameter counts of sampled configurations (the model built on CPU, no data read);
    the dataset's metadata is read once, when first needed (also after a restore)."""

    data_dir: str
    overrides: dict[str, Any] = field(default_factory=dict)
    _meta: Any = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:  # pickled with the searcher: no metadata
        return {"data_dir": self.data_dir, "overrides": self.overrides, "_meta": None}

    def __call__(self, config: dict[str, Any]) -> int:
        if self._meta is None:
            self._meta = open_dataset(self.data_dir)
        return count_parameters(build_model(config_to_spec(config, self.overrides), self._meta))
