"""What a user browses, without Ray: the Optuna study as Tune drives it (every epoch, pruned
trials, Tune ids), the dataset input and source tags, the runs URL and the live table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import optuna
import pytest

from prixfixe_blocks.data.format.schema import dataset_checksum
from search.record.display import LineDisplay, LiveDisplay, make_display
from search.record.lineage import dataset_doc, dataset_input, source_tags
from search.record.mlflow_utils import browse_text, runs_url
from search.study.journal import TUNE_ID_ATTR, describe_study, journal_storage, load_study
from search.study.searcher import DurableOptunaSearch
from tests.search_support import simulated_data
from tests.test_search_report import record

EPOCHS = 3


def space(trial: optuna.Trial) -> None:
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)


def result(epoch: int, value: float) -> dict:
    return {"epoch": epoch, "best_val_pearson": value, "training_iteration": epoch}


def test_searcher_tells_every_epoch_and_prunes_trials_stopped_early(tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    searcher = DurableOptunaSearch(space=space, metric="best_val_pearson", mode="max",
                                   storage=journal_storage(journal), study_name="s", seed=0,
                                   epochs=EPOCHS)
    describe_study(searcher.study, {"search": "s", "options": {"epochs": EPOCHS}})
    for tune_id in ("full", "asha", "early", "broken"):
        assert searcher.suggest(tune_id) is not None
    for epoch in (1, 2):  # Tune hands the last result to on_trial_complete only
        searcher.on_trial_result("full", result(epoch, 0.1 * epoch))
    searcher.on_trial_complete("full", result(3, 0.3))
    searcher.on_trial_result("asha", result(1, 0.05))
    searcher.on_trial_complete("asha", result(2, 0.07))  # the scheduler stopped it at epoch 2
    searcher.on_trial_complete("early", result(1, 0.02))  # stopped at its first epoch
    searcher.on_trial_result("broken", result(1, 0.01))
    searcher.on_trial_complete("broken", None, error=True)

    study = load_study(journal, "s")  # what optuna-dashboard reads
    assert study.metric_names == ["best_val_pearson"]
    assert study.user_attrs == {"search": "s", "options": {"epochs": EPOCHS}}
    trials = {t.user_attrs[TUNE_ID_ATTR]: t for t in study.trials}
    assert set(trials) == {"full", "asha", "early", "broken"}
    full, asha, early, broken = (trials[k] for k in ("full", "asha", "early", "broken"))
    assert full.state.name == "COMPLETE" and full.value == pytest.approx(0.3)
    assert full.intermediate_values == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3})
    assert asha.state.name == "PRUNED" and asha.value == pytest.approx(0.07)
    assert asha.intermediate_values == pytest.approx({1: 0.05, 2: 0.07})
    assert early.state.name == "PRUNED" and early.intermediate_values == pytest.approx({1: 0.02})
    assert broken.state.name == "FAIL" and broken.intermediate_values == pytest.approx({1: 0.01})


def test_dataset_input_names_the_data_by_its_checksum(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from prixfixe_blocks.data.format.schema import open_dataset

    data = simulated_data(tmp_path_factory)
    meta = open_dataset(data)
    doc = dataset_doc(meta, data, (0, 1))
    entity = dataset_input(doc)
    assert entity.dataset.digest == dataset_checksum(meta) and entity.dataset.name == data.name
    assert json.loads(entity.dataset.source) == {"uri": str(data.resolve())}
    profile = json.loads(entity.dataset.profile)
    assert profile["num_rows"] == meta.rows["total"] > 0
    assert profile["validation_rows"] == meta.fold_rows[0] + meta.fold_rows[1] > 0
    assert profile["train_rows"] + profile["validation_rows"] == profile["num_rows"]
    columns = {c["name"]: c["type"] for c in json.loads(entity.dataset.schema)["mlflow_colspec"]}
    assert columns["sequence"] == "string" and columns["fold"] == "integer"
    assert {t.key: t.value for t in entity.tags} == {"mlflow.data.context": "training"}


def test_source_tags_name_the_command_and_the_checkout_commit() -> None:
    import subprocess

    from tests.conftest import REPO

    tags = source_tags()
    assert tags["mlflow.source.name"] == "prixfixe-search"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    assert head, "the tests run from a git checkout"
    assert tags["mlflow.source.git.commit"] == head


def test_runs_url_opens_the_classic_runs_table() -> None:
    url = runs_url("sqlite:////x/mlflow.db", "7")
    assert url.startswith("http://127.0.0.1:5000/#/experiments/7/runs?workflowType="
                          "machine_learning")
    assert "mlflow ui --backend-store-uri sqlite:////x/mlflow.db" in browse_text(
        "sqlite:////x/mlflow.db", "7")
    served = browse_text("http://tracking:8080/", "7")
    assert "mlflow ui" not in served and "http://tracking:8080/#/experiments/7/runs?" in served


def test_live_display_redraws_one_table_and_prints_only_alerts() -> None:
    from rich.console import Console

    out = io.StringIO()
    display = LiveDisplay(Console(file=out, force_terminal=True, width=140))
    records = {r["trial_id"]: r for r in (record(1, 0.2), record(2, None, "RUNNING"))}
    display.event("trial 000 epoch 1/2")  # shown in the table, not printed
    display.show(records, "search 's' [3s]", 2)
    records["id2"].update(record(2, 0.6, "STOPPED"))
    display.event("trial 001 FAILED: boom", alert=True)
    display.show(records, "search 's' [5s]", 2)
    display.close()
    text = out.getvalue()
    assert "epoch 1/2" not in text and "trial 001 FAILED: boom" in text
    first, alert, last = (text.index("search 's' [3s]"), text.index("boom"),
                          text.rindex("search 's' [5s]"))
    assert first < alert < last and text.rindex("search 's' [3s]") < last  # alert above
    assert "\x1b[1A" in text  # the second table is drawn over the first (cursor up)
    assert "STOPPED" in text and "0.6000" in text and "2/2" in text
    assert "│   002 │ id2 " in text and f"{2:032x}"[:8] in text  # Optuna number, Tune id, run


def test_line_display_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture) -> None:
    display = make_display(io.StringIO())
    assert isinstance(display, LineDisplay)
    display.event("trial 000 (aaaa) started")
    display.show({}, "title", 2)
    assert capsys.readouterr().out == "trial 000 (aaaa) started\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(make_display(Terminal()), LiveDisplay)
