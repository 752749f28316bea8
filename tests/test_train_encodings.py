"""Training-strategy encodings: shapes and values on known sequences, strands, masking."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.spec import StrategySpec
from prixfixe_blocks.strategies.input_encodings import (
    ENCODINGS,
    IGNORE_INDEX,
    MASK_CODE,
    Encoder,
    EncodingParams,
    default_input_shape,
    encoding_params,
    input_shape,
    make_encoder,
)

LEFT, RIGHT = "TGCATTTTTTTCACATC", "GGTTACGGCTGTT"
CORE = "ACGTTGCA" * 10  # 80 bp
SEQ = LEFT + CORE + RIGHT  # 110 bp
FLANK_L = "C" * 183 + LEFT  # ends with the left adapter, like the plasmid
FLANK_R = RIGHT + "G" * 187
IDX = {c: i for i, c in enumerate("ACGTN")}
COMP = str.maketrans("ACGTN", "TGCAN")


def rc(seq: str) -> str:
    return seq.translate(COMP)[::-1]


def one_hot(seq: str, n_value: float) -> np.ndarray:
    out = np.zeros((4, len(seq)), np.float32)
    for j, ch in enumerate(seq):
        if ch == "N":
            out[:, j] = n_value
        else:
            out[IDX[ch], j] = 1.0
    return out


def dream_params(encoding: str, **kw) -> EncodingParams:
    meta = SimpleNamespace(
        plasmid={"left_flank": FLANK_L, "right_flank": FLANK_R}, seq_len={"min": 100, "max": 111},
        targets=["expression"], columns=["sequence", "expression", "fold", "is_singleton"],
    )
    return encoding_params(StrategySpec(encoding=encoding, **kw), meta)


def record_batch(seqs: list[str], y: list[float], single: list[int]) -> pa.RecordBatch:
    return pa.record_batch({"sequence": pa.array(seqs), "expression": pa.array(y, pa.float32()),
                            "is_singleton": pa.array(single, pa.int8())})


def test_autosome_plasmid_padding_and_channels() -> None:
    enc = Encoder(dream_params("autosome"))
    short = LEFT + CORE[:70] + RIGHT  # 100 bp
    batch = record_batch([SEQ, short], [3.0, 5.5], [1, 0])
    out = enc.encode(batch, train=True, rng=np.random.default_rng(0), reverse=False)
    x = out["x"].numpy()
    assert x.shape == (2, 6, 150) and out["y"].tolist() == [[3.0], [5.5]]
    expected0 = (FLANK_L + SEQ[17:])[-150:]
    assert len(SEQ[17:]) == 93 and expected0.endswith(CORE + RIGHT)
    np.testing.assert_array_equal(x[0, :4], one_hot(expected0, 0.25))
    np.testing.assert_array_equal(x[1, :4], one_hot((FLANK_L + short[17:])[-150:], 0.25))
    assert (x[:, 4] == 0).all()  # is_reverse
    assert (x[0, 5] == 1).all() and (x[1, 5] == 0).all()  # is_singleton at training
    rev = enc.encode(batch, train=False, rng=np.random.default_rng(0), reverse=True)["x"].numpy()
    np.testing.assert_array_equal(rev[0, :4], one_hot(rc(expected0), 0.25))
    assert (rev[:, 4] == 1).all() and (rev[:, 5] == 0).all()  # prediction: is_singleton = 0


def test_n_value_per_encoding() -> None:
    seq = LEFT + "N" * 80 + RIGHT
    auto = Encoder(dream_params("autosome")).encode_sequences([seq])["x"].numpy()
    bhi = Encoder(dream_params("bhi")).encode_sequences([seq])["x"].numpy()
    assert np.allclose(auto[0, :4, 57:137], 0.25) and not np.allclose(auto[0, :4, 137], 0.25)
    assert np.allclose(bhi[0, :, 17:97], 0.0) and bhi[0, :, 16].sum() == 1


def test_bhi_vector_padding_random_at_training_only() -> None:
    enc = Encoder(dream_params("bhi"))
    short = SEQ[:100]
    fixed = enc.encode_sequences([short] * 64)["x"].numpy()
    assert fixed.shape == (64, 4, 110)
    # no rng: split evenly, 5 bp each side of the vector beyond the adapters (BHI's padding)
    vector_l, vector_r = FLANK_L[: -len(LEFT)], FLANK_R[len(RIGHT):]
    np.testing.assert_array_equal(fixed[0], one_hot(vector_l[-5:] + short + vector_r[:5], 0.0))
    assert (fixed == fixed[0]).all()
    rand = enc.encode_sequences([short] * 64, train=True, rng=np.random.default_rng(1),
                                reverse=False)["x"].numpy()
    seq_hot = one_hot(short, 0.0)
    offsets = [next(o for o in range(11) if (r[:, o:o + 100] == seq_hot).all()) for r in rand]
    assert set(offsets) == {0, 5, 10}  # only 3', only 5' or split evenly, as BHI padded
    long = Encoder(dream_params("bhi")).encode_sequences([SEQ + "A"])["x"].numpy()
    np.testing.assert_array_equal(long[0], one_hot(SEQ, 0.0))  # trimmed on the right


def test_unlockdna_tokens_strands_and_mask() -> None:
    enc = Encoder(dream_params("unlockdna", mask_fraction=0.2))
    tokens = enc.encode_sequences([SEQ])["x"].numpy()
    centred = CORE.center(100, "N")  # 10 N + 80 bp + 10 N, as Unlock_DNA padded
    assert tokens.shape == (1, 200) and tokens.dtype == np.int64
    assert tokens[0, :100].tolist() == [IDX[c] for c in centred]
    assert tokens[0, 100:].tolist() == [IDX[c] for c in rc(centred)]
    rev = enc.encode_sequences([SEQ], reverse=True)["x"].numpy()
    assert rev[0].tolist() == tokens[0, 100:].tolist() + tokens[0, :100].tolist()
    out = enc.encode_sequences([SEQ] * 200, train=True, rng=np.random.default_rng(0),
                               reverse=False)
    x, labels = out["x"].numpy(), out["mlm_labels"].numpy()
    masked = x == MASK_CODE
    assert (masked == (labels != IGNORE_INDEX)).all()
    assert 0.17 < masked[:, 10:90].mean() < 0.23  # 20% of the non-N tokens
    assert not masked[:, :10].any() and not masked[:, 90:110].any()  # N is never masked
    np.testing.assert_array_equal(labels[masked], np.tile(tokens[0], (200, 1))[masked])
    assert "mlm_labels" not in enc.encode_sequences([SEQ], train=False)


def test_rc_augment_sets_is_reverse_per_sample() -> None:
    enc = Encoder(dream_params("autosome", rc="augment"))
    out = enc.encode_sequences([SEQ] * 100, train=True, rng=np.random.default_rng(3))["x"]
    x = out.numpy()
    flipped = x[:, 4, 0] == 1
    assert 20 < flipped.sum() < 80
    fwd, rev = enc.encode_sequences([SEQ], reverse=False)["x"], enc.encode_sequences(
        [SEQ], reverse=True)["x"]
    for rows, ref in ((x[flipped], rev), (x[~flipped], fwd)):
        np.testing.assert_array_equal(rows[:, :5], np.repeat(ref.numpy()[:, :5], len(rows), 0))


@pytest.mark.parametrize("rc_mode, rows", [("both", 4), ("none", 2), ("augment", 2)])
def test_training_batch_rc_modes(rc_mode: str, rows: int) -> None:
    enc = Encoder(dream_params("autosome", rc=rc_mode))
    batch = record_batch([SEQ, SEQ[:105]], [1.0, 2.0], [0, 1])
    out = enc.training_batch(batch, np.random.default_rng(0))
    assert out["x"].shape == (rows, 6, 150) and out["y"].shape == (rows, 1)
    if rc_mode == "both":
        assert out["x"][:2, 4].eq(0).all() and out["x"][2:, 4].eq(1).all()
        assert out["y"][:, 0].tolist() == [1.0, 2.0, 1.0, 2.0]
        np.testing.assert_array_equal(out["x"][2, :4].numpy(), out["x"][0, :4].numpy()[::-1, ::-1])
    if rc_mode == "none":
        assert out["x"][:, 4].eq(0).all()


def test_input_shapes_dream_and_other_lengths() -> None:
    def shape(name: str, meta: object) -> Shape:
        return input_shape(encoding_params(StrategySpec(encoding=name), meta))

    for name in ENCODINGS.names():
        assert shape(name, None) == default_input_shape(name)
    starr = SimpleNamespace(plasmid=None, seq_len={"min": 249, "max": 249},
                            targets=["dev", "hk"], columns=["sequence", "dev", "hk", "fold"])
    assert shape("autosome", starr) == Shape("features", 6, 249)
    assert shape("bhi", starr) == Shape("features", 4, 249)
    assert shape("unlockdna", starr) == Shape("tokens", 6, 498)
    enc = make_encoder(StrategySpec(encoding="autosome"), starr)
    x = enc.encode_sequences(["ACGT" * 60])["x"].numpy()  # 240 bp: 9 bp of N on the 5' side
    assert x.shape == (1, 6, 249) and np.allclose(x[0, :4, :9], 0.25)
    np.testing.assert_array_equal(x[0, :4, 9:], one_hot("ACGT" * 60, 0.25))
    assert enc.params.targets == ("dev", "hk") and not enc.params.has_singleton


def test_params_round_trip_json() -> None:
    params = dream_params("unlockdna", mask_fraction=0.1)
    assert EncodingParams.from_dict(params.to_dict()) == params
