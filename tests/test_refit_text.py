"""What refit prints of its ensemble: the selection (members' shares, the candidates left out,
plainly when the ridge alone wins) and the members its calibration rescaled most."""

from __future__ import annotations

from prixfixe_blocks.evaluation.calibration import Calibration
from prixfixe_blocks.evaluation.ensemble import RIDGE
from prixfixe_blocks.evaluation.selection import Selection
from search.refit.select import calibration_text, selection_text


def test_refit_says_plainly_when_the_ridge_alone_wins() -> None:
    alone = Selection({RIDGE: 1}, 0.6, {"top1": 0.5, RIDGE: 0.6}, (0.6, 0.6))
    text = selection_text(alone, 120)
    assert "(120 rows)" in text and "kmer-ridge x1" in text
    assert "the k-mer ridge alone wins on validation" in text
    mixed = Selection({"top1": 2, RIDGE: 1}, 0.7, {"top1": 0.5, RIDGE: 0.6}, (0.6, 0.7))
    assert "alone" not in selection_text(mixed) and "top1 x2 + kmer-ridge x1" in \
        selection_text(mixed)
    assert "left out" not in selection_text(mixed)
    pruned = Selection({"top1": 2, RIDGE: 1}, 0.7, {"top1": 0.5, "top2": 0.1, RIDGE: 0.6},
                       (0.6, 0.7), {"top1": 0.25, RIDGE: 0.75}, ("top2",))
    text = selection_text(pruned)
    assert "kmer-ridge x1 (75%) + top1 x2 (25%)" in text
    assert "left out (val r below 0.5 x the best's): top2 0.1000" in text


def test_refit_names_the_members_its_calibration_rescaled_most() -> None:
    cals = [Calibration((1.2,), (0.0,)), Calibration((0.15,), (3.0,)),
            Calibration((1.0, 7.0), (0.0, 0.0)), Calibration((0.0,), (5.0,))]
    text = calibration_text(["top1", "top2", RIDGE, "dream-rnn"], cals)
    assert "rescaled most: top2 x0.15, kmer-ridge x7, dream-rnn x0" in text
    assert "top1" not in text  # within x0.5-x2
    assert "none rescaled beyond x0.5-x2" in calibration_text(["top1"], cals[:1])
