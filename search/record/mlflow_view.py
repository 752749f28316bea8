"""The search's saved MLflow view: what the printed runs URL opens, with no set-up clicks.

MLflow 3.17's UI reads two things from the URL that matter here (found in its JS bundle,
mlflow/server/js/build):
- `workflowType=machine_learning`: the UI's mode. Without it the UI uses the mode kept in the
  browser (default: GenAI), and in GenAI mode a run counts as "Model training" only when it has
  a logged model among its outputs; every other run (the parent, trials without the best
  model) is filed under "Evaluations". Every link the search prints or writes carries it.
- `viewStateShareKey=KEY`: the view state saved in the experiment tag
  `mlflow.sharedViewState.KEY` (JSON: sort order, visible columns, charts). It is ignored when
  the URL also names a sort or filter, so the URL names only these two.
The runs table nests children under their parent only when sorted by creation time, and which
parents are expanded is browser state that a shared view cannot set; so the saved view sorts by
`best_val_pearson` (flat), and the parent's description keeps the linked leaderboard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from prixfixe_blocks.spec import ROLES
from search.record.mlflow_utils import VIEW_KEY
from search.report.leaderboard import METRIC
from search.trial.trainable import PARAMS

VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"  # experiment tag MLflow's UI reads it from
COLUMN_METRICS = (METRIC, "val_pearson", "val_spearman", PARAMS)
# Test scores, when logged: refit's test figures and evaluate's weighted DREAM scores
# (`evaluate/LABEL/pearson_score`), not every per-subset figure.
TEST_SCORES = ("test_pearson", "test_spearman", "/pearson_score", "/spearman_score")
# Parameters every trial of the built-in spaces has (block choices, encoding, optimiser, lr,
# batch size): the columns and the parallel-coordinates axes, never a block's own
# (conditional) field.
COMMON_PARAMS = (*ROLES, "strategy.encoding", "strategy.optimizer", "strategy.lr",
                 "strategy.batch_size")

BEST_TAG = "best_trial"
BEST_SUFFIX = "-BEST"  # appended to the best trial's run name
NAME_WIDTH = 330  # pixels: the run name column shows `trial-002-d2c90d85-bhi-bhi-autosome`


def _column(group: str, key: str) -> str:
    return f"{group}.`{key}`"


NAME_COLUMN = _column("attributes", "Run Name")
MODELS_COLUMN = _column("attributes", "Models")  # the best trial's logged model


def view_state(metrics: Iterable[str] = ()) -> dict[str, Any]:
    """The saved view: sorted by `best_val_pearson`, its metric columns (the test scores among
    `metrics` too), the common parameters, models and dataset; every run shown; the charts
    open on a parallel-coordinates plot of the common parameters."""
    tests = sorted(m for m in metrics if m.endswith(TEST_SCORES) and "baseline" not in m)
    shown = [*COLUMN_METRICS, *tests]
    columns = ([_column("metrics", m) for m in shown]
               + [_column("params", p) for p in COMMON_PARAMS] + [MODELS_COLUMN])
    parallel = {"uuid": "prixfixe-parallel", "type": "PARALLEL", "runsCountToCompare": 100,
                "metricSectionId": "", "deleted": False, "isGenerated": False,
                "selectedParams": list(COMMON_PARAMS), "selectedMetrics": [METRIC],
                "showAllRuns": True}
    return {"orderByKey": _column("metrics", METRIC), "orderByAsc": False,
            "selectedColumns": columns, "columnOrder": [NAME_COLUMN, *columns],
            "columnWidths": {NAME_COLUMN: NAME_WIDTH}, "runsHiddenMode": "SHOW_ALL",
            "compareRunCharts": [parallel], "hideEmptyCharts": True}


def save_view(client: Any, experiment_id: str, metrics: Iterable[str] = ()) -> None:
    """Store the saved view on the experiment (replacing an earlier one)."""
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(view_state(metrics)))


def refresh_view(client: Any, experiment_id: str) -> None:
    """Save the view again with the test scores the experiment's runs have logged by now
    (refit's `test_*`, evaluate's `evaluate/...`)."""
    keys: set[str] = set()
    for run in client.search_runs([experiment_id], max_results=1000):
        keys.update(run.data.metrics)
    save_view(client, experiment_id, keys)


def mark_best(client: Any, run_id: str) -> None:
    """Mark the best trial's run: tag `best_trial=true` and BEST_SUFFIX on its name (the
    runs table shows names, not tags)."""
    name = client.get_run(run_id).info.run_name or run_id
    if not name.endswith(BEST_SUFFIX):
        client.update_run(run_id, name=f"{name}{BEST_SUFFIX}")
    client.set_tag(run_id, BEST_TAG, "true")
