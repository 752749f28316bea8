"""The time budget's plan from fake step costs: width, passes, trials and trials at a time fit
the budget and the node's memory; a wider width wins only when it affords enough passes."""

from __future__ import annotations

import pytest

from prixfixe_blocks.errors import ConfigError
from search.run.budget import (
    MAX_EPOCHS,
    MEMORY_FRACTION,
    MIN_EPOCHS,
    MIN_TRIALS,
    USABLE_FRACTION,
    WIDE_EPOCHS,
    WRAP_UP_S,
    WidthCost,
    clock_budget,
    parse_duration,
    plan_budget,
)

# seconds per training sequence grow ~10x per width step; memory with the width too
COSTS = [WidthCost("tiny", 2e-5, 5e-6, 1.0, 1.0), WidthCost("small", 2e-4, 5e-5, 2.0, 2.5),
         WidthCost("published", 4e-3, 1e-3, 5.0, 13.0)]
ROWS = dict(n_train=6000, n_val=600)


@pytest.mark.parametrize(("text", "seconds"), [("600", 600), ("90s", 90), ("30m", 1800),
                                                ("1.5h", 5400), ("1h30m", 5400), ("2d", 172800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "10 parsecs", "-5m", "5x"])
def test_unreadable_durations_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="--time-budget"):
        parse_duration(bad)


def test_the_search_clock_leaves_out_start_up_and_the_wrap_up() -> None:
    """`run --time-budget 180` whose planning and Ray start-up took 12 s: the clock gets the
    rest less the wrap-up reserve, so the whole command ends within 180 s."""
    assert clock_budget(180.0, 12.0) == pytest.approx(180.0 - 12.0 - WRAP_UP_S)
    assert 12.0 + clock_budget(180.0, 12.0) + WRAP_UP_S == pytest.approx(180.0)
    with pytest.raises(ConfigError, match=r"--time-budget 20 s leaves no time for trials: "
                                          r"start-up took 12 s"):
        clock_budget(20.0, 12.0)


@pytest.mark.parametrize("budget", [180.0, 600.0, 2400.0, 36000.0])
def test_the_plan_fits_the_budget_and_the_memory(budget: float) -> None:
    plan = plan_budget(budget, COSTS, **ROWS, slots=2, memory_gb=24.0)
    assert plan.fits and plan.trials >= MIN_TRIALS
    assert plan.expected_s <= budget * USABLE_FRACTION + plan.trial_s  # last wave may straddle
    assert plan.parallel * plan.memory_gb <= 24.0 * MEMORY_FRACTION
    assert 1 <= plan.grace <= plan.epochs


def test_a_longer_budget_buys_a_wider_model_or_more_passes() -> None:
    plans = [plan_budget(b, COSTS, **ROWS, slots=2, memory_gb=24.0)
             for b in (180.0, 600.0, 2400.0, 36000.0)]
    order = ["tiny", "small", "published"]
    keys = [(order.index(p.width), p.epochs) for p in plans]
    assert keys == sorted(keys) and keys[0] != keys[-1]
    assert plans[-1].width == "published"  # ten hours afford the published widths here
    for plan in plans:
        if plan.width != "tiny":  # a wider width is taken only with enough passes
            assert plan.epochs >= WIDE_EPOCHS


def test_max_epochs_caps_the_passes_and_buys_trials_instead() -> None:
    """A budget that affords more than the default cap: the cap binds, and a lower one
    (`run --max-epochs`) gives fewer passes but more trials; below MIN_EPOCHS is refused."""
    capped = plan_budget(36000.0, COSTS, **ROWS, slots=2, memory_gb=24.0)
    longer = plan_budget(36000.0, COSTS, **ROWS, slots=2, memory_gb=24.0,
                         max_epochs=MAX_EPOCHS * 2)
    shorter = plan_budget(36000.0, COSTS, **ROWS, slots=2, memory_gb=24.0, max_epochs=MIN_EPOCHS)
    assert capped.epochs == MAX_EPOCHS < longer.epochs <= MAX_EPOCHS * 2
    assert shorter.epochs == MIN_EPOCHS and shorter.trials > capped.trials >= longer.trials
    with pytest.raises(ConfigError, match="--max-epochs must be at least"):
        plan_budget(600.0, COSTS, **ROWS, slots=2, memory_gb=24.0, max_epochs=MIN_EPOCHS - 1)


def test_memory_limits_trials_at_a_time_and_widths() -> None:
    plan = plan_budget(36000.0, COSTS, **ROWS, slots=16, memory_gb=24.0)
    assert plan.parallel == int(24.0 * MEMORY_FRACTION // plan.memory_gb) < 16
    small_node = plan_budget(36000.0, COSTS, **ROWS, slots=2, memory_gb=16.0)
    assert small_node.width != "published"  # 13 GB per trial does not fit 70% of 16 GB
    with pytest.raises(ConfigError, match="no width fits one trial"):
        plan_budget(600.0, COSTS, **ROWS, slots=2, memory_gb=1.0)


def test_a_budget_too_short_for_anything_says_so() -> None:
    plan = plan_budget(5.0, COSTS, **ROWS, slots=2, memory_gb=24.0)
    assert not plan.fits and plan.width == "tiny"
    assert any("budget is short" in line for line in plan.lines())


def test_peak_memory_of_a_call_is_measured() -> None:
    import numpy as np

    from search.run.budget_costs import measure_peak

    def allocate() -> int:
        block = np.ones(400 * 2**20 // 8)  # 400 MB, touched
        return int(block.size)

    size, gb = measure_peak(allocate)
    assert size == 50 * 2**20
    assert 0.3 < gb < 0.8


def test_a_time_budget_alone_plans_the_search(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.search_support import run_cli, simulated_data

    storage = tmp_path_factory.mktemp("budget")
    result = run_cli("run", "--data", str(simulated_data(tmp_path_factory)), "--name", "b",
                     "--time-budget", "2m", "--storage", str(storage), "--dry-run",
                     "--fix", "strategy.batch_size=64")
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "planning for a time budget of 120 s" in out and "width tiny:" in out
    plan = next(line for line in out.splitlines() if line.startswith("budget plan"))
    assert "passes per trial" in plan and "at a time" in plan
    assert "dry run: no trial started" in out and not (storage / "b").exists()


def test_the_planner_times_the_presets_the_search_trains(monkeypatch: pytest.MonkeyPatch) -> None:
    """width_costs times each DREAM preset as a trial builds it at that width (the space's
    constants included), i.e. what `train --preset P --width W` trains: a bare preset point
    once built the published DREAM-CNN core and called it tiny."""
    from prixfixe_blocks.blocks.compose import count_parameters
    from prixfixe_blocks.presets import get_preset, with_width
    from prixfixe_blocks.training.model import build_model
    from search.run import budget_costs

    timed: list[int] = []

    def fake_time(spec, *_args, **_kwargs):  # noqa: ANN001, ANN202
        timed.append(count_parameters(build_model(spec, None)))
        return 1e-5, 1e-6, 0.1

    monkeypatch.setattr(budget_costs, "time_model", fake_time)
    costs = budget_costs.width_costs("prixfixe", {}, {}, "unused", (0,), 0, "cpu", 1,
                                     lambda cost: True)  # no width past tiny
    assert [c.width for c in costs] == ["tiny"]
    presets = {count_parameters(build_model(with_width(get_preset(name), "tiny"), None))
               for name in ("dream-cnn", "dream-rnn", "dream-attn")}
    assert set(timed) == presets  # each preset timed at two batches, as built at tiny


@pytest.mark.parametrize(("rows", "fix", "pinned"), [
    (5_676, [], "strategy.batch_size=128"), (1_000_000, [], None),
    (5_676, ["strategy.batch_size=512"], "strategy.batch_size=512")])
def test_a_budgeted_search_pins_a_batch_that_fits_its_rows(rows: int, fix: list[str],
                                                           pinned: str | None) -> None:
    """Few rows: every trial (the presets too) gets a batch giving >= 32 steps per pass, unless
    the user pinned one; many rows: the space's batch choices stay searched."""
    from search.run.budget_costs import fit_batch
    from search.run.options import SearchOptions

    opts = fit_batch(SearchOptions(data="unused", name="x", fix=list(fix)), rows)
    batches = [f for f in opts.fix if f.startswith("strategy.batch_size=")]
    assert batches == ([pinned] if pinned else [])


def test_max_epochs_without_a_planned_budget_is_refused(tmp_path, capsys) -> None:
    """`--max-epochs` only caps a plan: beside --epochs (no plan) it would be silently ignored;
    a cap below MIN_EPOCHS is refused before the planner times anything."""
    from search.cli import main as cli_main

    code = cli_main(["run", "--data", str(tmp_path), "--name", "x", "--time-budget", "10m",
                     "--epochs", "5", "--max-epochs", "30", "--storage", str(tmp_path)])
    assert code == 2 and "--max-epochs caps the passes" in capsys.readouterr().err
    code = cli_main(["run", "--data", str(tmp_path), "--name", "x", "--time-budget", "10m",
                     "--max-epochs", str(MIN_EPOCHS - 1), "--storage", str(tmp_path)])
    assert code == 2 and "--max-epochs must be at least" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing started or written
