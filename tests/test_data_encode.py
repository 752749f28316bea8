"""Encodings: exact on hand-checked sequences, incl. reverse complement and real-plasmid padding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from prixfixe_blocks.data.format.plasmid import load_plasmid
from prixfixe_blocks.data.format.schema import LEFT_ADAPTER, RIGHT_ADAPTER
from prixfixe_blocks.data.read.encode import (
    one_hot,
    plasmid_pad,
    reverse_complement,
    to_codes,
    unlock_tokens,
    vector_pad,
    with_constant_channels,
)
from prixfixe_blocks.errors import DataError
from tests.codes_support import decode

INSERT = "ACGTTGCA" * 10
SEQ110 = LEFT_ADAPTER + INSERT + RIGHT_ADAPTER


def test_to_codes_alignments_and_inputs():
    seqs = ["ACGTN", "acgtnm", "TTT"]
    assert to_codes(seqs, 6).tolist() == [
        [0, 1, 2, 3, 4, 4], [0, 1, 2, 3, 4, 5], [3, 3, 3, 4, 4, 4]]
    assert decode(to_codes(seqs, 4, align="right")) == ["CGTN", "GTNM", "NTTT"]
    assert decode(to_codes(seqs, 4, align="center")) == ["ACGT", "CGTN", "TTTN"]
    assert to_codes(["AC"], 3, fill=5).tolist() == [[0, 1, 5]]
    arr = pa.array(["GGG", "ACGTACGT", "CA"])
    sliced = arr.slice(1, 2)  # non-zero Arrow offset
    assert decode(to_codes(sliced, 5)) == ["ACGTA", "CANNN"]
    large = pa.large_string()
    chunked = pa.chunked_array([pa.array(["A"], large), pa.array(["CC"], large)])
    assert decode(to_codes(chunked, 2)) == ["AN", "CC"]
    with pytest.raises(ValueError, match="align"):
        to_codes(seqs, 4, align="middle")
    with pytest.raises(DataError, match="null"):
        to_codes(pa.array(["A", None]), 2)


def test_reverse_complement_and_one_hot():
    codes = to_codes(["AACGTN", "ACM"], 6)
    assert decode(reverse_complement(codes)) == ["NACGTT", "NNNMGT"]
    x = one_hot(to_codes(["ACGTNM"], 6), n_value=0.25)
    expected = np.array([[1, 0, 0, 0, 0.25, 0], [0, 1, 0, 0, 0.25, 0],
                         [0, 0, 1, 0, 0.25, 0], [0, 0, 0, 1, 0.25, 0]], np.float32)
    assert x.dtype == np.float32 and x.shape == (1, 4, 6)
    assert np.array_equal(x[0], expected)
    assert one_hot(to_codes(["N"], 1))[0, :, 0].tolist() == [0, 0, 0, 0]


def test_constant_channels():
    x = one_hot(to_codes(["AC", "GT"], 2))
    y = with_constant_channels(x, 1.0, np.array([0.0, 1.0]))
    assert y.shape == (2, 6, 2)
    assert np.array_equal(y[:, :4], x)
    assert y[:, 4].tolist() == [[1, 1], [1, 1]] and y[:, 5].tolist() == [[0, 0], [1, 1]]


def test_plasmid_pad_against_real_plasmid(plasmid_path: Path):
    flanks = load_plasmid(plasmid_path)
    plasmid = json.loads(plasmid_path.read_text())
    slot = plasmid.index("N" * 80)
    short = LEFT_ADAPTER + INSERT[:70] + RIGHT_ADAPTER  # 100 bp
    long_ = LEFT_ADAPTER + "A" * 150 + "CCC"
    out = decode(plasmid_pad([SEQ110, short, long_], flanks["left_flank"]))
    # 110 bp: 57 plasmid bases before the slot (ending with the adapter), then insert + adapter
    assert out[0] == plasmid[slot - 57: slot] + INSERT + RIGHT_ADAPTER
    assert out[0][40:57] == LEFT_ADAPTER and len(out[0]) == 150
    assert out[1] == plasmid[slot - 67: slot] + INSERT[:70] + RIGHT_ADAPTER
    assert out[2] == "A" * 150  # longer than 150 after stripping: trimmed on the right


def test_vector_pad_even_and_random(plasmid_path: Path):
    fl = load_plasmid(plasmid_path)
    left, right = fl["left_flank"], fl["right_flank"]
    seq = SEQ110[:100]
    assert decode(vector_pad([seq], left, right)) == [left[-5:] + seq + right[:5]]
    assert decode(vector_pad([SEQ110 + "GG"], left, right)) == [SEQ110]
    rng = np.random.default_rng(0)
    outs = decode(vector_pad([seq] * 20_000, left, right, rng=rng))
    # BHI's draws: 3' only (p 0.333), 5' only (0.667 x 0.334), else split evenly
    shares = {k: sum(o == left[len(left) - k:] + seq + right[: 10 - k] for o in outs) / len(outs)
              for k in (0, 10, 5)}
    assert sum(shares.values()) == 1.0
    assert shares[0] == pytest.approx(0.333, abs=0.015)
    assert shares[10] == pytest.approx(0.667 * 0.334, abs=0.015)


def test_unlock_tokens():
    tok = unlock_tokens([SEQ110, LEFT_ADAPTER + "ACG" + RIGHT_ADAPTER])
    assert tok.shape == (2, 200)
    # centred as Unlock_DNA padded (pandas str.pad side="both", i.e. str.center)
    assert decode(tok[:, :100]) == ["N" * 10 + INSERT + "N" * 10, "N" * 48 + "ACG" + "N" * 49]
    rc = INSERT.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    assert decode(tok[:, 100:]) == ["N" * 10 + rc + "N" * 10, "N" * 49 + "CGT" + "N" * 48]
    rng = np.random.default_rng(0)
    inserts = ["".join(rng.choice(list("ACGT"), n)) for n in range(60, 101)]
    tok = unlock_tokens([LEFT_ADAPTER + s + RIGHT_ADAPTER for s in inserts])
    assert decode(tok[:, :100]) == [s.center(100, "N") for s in inserts]

