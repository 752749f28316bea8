"""The held-out benchmark's table and figure, from a results file of known figures."""

from __future__ import annotations

from typing import Any

from benchmarks.held_out_report import _tick, plot, rows, table


def _model(r: float, score: float | None = None) -> dict[str, float]:
    return {"r": r} | ({} if score is None else {"dream_score": score})


def _results() -> dict[str, Any]:
    """Real data (r only; the ridge refit fitted on train + val differs from `evaluate`'s) and
    a simulated suite (r and the DREAM score) at two budgets, one preset missing at 10m."""
    def search(r: float, score: float | None = None, ridge_tv: float | None = None,
               refit_s: float = 100.0) -> dict[str, Any]:
        return {"model": _model(r, score), "ridge": _model(0.5, score and 0.2),
                "ridge_train_val": ridge_tv, "refit_s": refit_s}

    def preset(r: float, score: float | None = None) -> dict[str, Any]:
        return {"model": _model(r, score), "ridge": _model(0.5, score and 0.2)}

    dream = {"search": {"0": search(0.64, ridge_tv=0.626, refit_s=300),
                        "1": search(0.62, ridge_tv=0.626, refit_s=200),
                        "2": search(0.66, ridge_tv=0.626, refit_s=250)},
             "presets": {"dream-cnn": preset(0.61), "dream-rnn": preset(0.6),
                         "dream-attn": preset(0.55)}}
    sim = {"3m": {"search": {"0": search(0.63, 0.29)},
                  "presets": {"dream-cnn": preset(0.65, 0.47), "dream-rnn": preset(0.1, 0.01),
                              "dream-attn": preset(0.2, 0.03)}},
           "10m": {"search": {"0": search(0.7, 0.5)},
                   "presets": {"dream-cnn": preset(0.68, 0.45)}}}
    return {"datasets": {"dream": {"budgets": {"3m": dream}, "truth_ceiling": None},
                         "simulated": {"budgets": sim, "truth_ceiling": 0.99}}}


def test_rows_take_the_median_range_ridge_and_the_dream_score_where_every_model_has_it():
    found = {(r["dataset"], r["budget"], r["metric"]): r for r in rows(_results())}
    assert set(found) == {("dream", "3m", "r"), ("simulated", "3m", "r"),
                          ("simulated", "3m", "dream_score"), ("simulated", "10m", "r"),
                          ("simulated", "10m", "dream_score")}
    dream = found["dream", "3m", "r"]
    assert dream["search"] == [0.64, 0.62, 0.66] and dream["refit_s"] == 250
    assert dream["ridge"] == 0.626  # refit's ridge (train + val), not evaluate's 0.5
    assert found["simulated", "3m", "dream_score"]["ridge"] == 0.2  # evaluate's, no refit one
    assert found["simulated", "3m", "r"]["ceiling"] == 0.99
    assert found["simulated", "3m", "dream_score"]["ceiling"] is None
    assert found["simulated", "10m", "r"]["presets"]["dream-rnn"] is None


def test_table_prints_median_min_max_and_a_dash_for_what_was_not_run():
    lines = table(_results()).splitlines()
    dream = next(line for line in lines if line.startswith("| dream | 3m | test r"))
    assert "0.640 [0.620, 0.660] (n=3)" in dream and "| 0.626 |" in dream
    sim10 = next(line for line in lines if line.startswith("| simulated | 10m | DREAM score"))
    assert "0.500 [0.500, 0.500] (n=1) | 0.450 | - | - |" in sim10
    assert len(lines) == 2 + 5


def test_plot_writes_one_figure(tmp_path):
    out = tmp_path / "held_out.png"
    plot(_results(), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_a_variant_is_ticked_by_its_budget_and_number():
    variants = ["--epochs 45 --width tiny", "--trials 4"]
    assert _tick("10m", variants) == "10m"
    assert _tick("10m --trials 4", variants) == "10m v2"
