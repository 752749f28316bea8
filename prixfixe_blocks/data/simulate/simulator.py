"""``data simulate``: DREAM-like training data and a matching test suite with a known truth.

Sequences: 17 bp left adapter TGCATTTTTTTCACATC + uniform random insert + 13 bp right adapter
GGTTACGGCTGTT; total lengths 102..111 drawn from the real DREAM sample's spread (82% are 110).

Expression (``simulate/truth.py``, motifs in ``simulate/motifs.py``):
1. every window of both strands is scored against the PWMs of Reb1, Abf1, Rap1, Gcn4, Msn2,
   Hsf1, Skn7, Mga1, Ume6, Mot3, Azf1 and a poly-dA:dT tract (log2 odds, uniform background);
   ``2 ** (score - best score)`` is the site's relative affinity;
2. each site is weighted by position (0.5 at the 5' end rising linearly to 1.0 at the 3' end,
   nearest the core promoter; 0 for windows entirely inside the constant left adapter) and by
   strand (the motif's ``reverse`` weight on the reverse strand: orientation effects);
3. factor occupancy o_f = 1 - exp(-K_f * sum of weighted affinities), K_f set so that a random
   110 bp sequence has an expected sum of 0.25 (so strong sites, not background, drive it);
4. activity a = sum_f effect_f * o_f + sum_{(f,g)} w_fg * o_f * o_g (``effect`` in the motif
   table; four pairwise interactions, e.g. Reb1 x Abf1 synergy, Ume6 x Rap1 repression);
5. truth e = 17 * sigmoid(0.69 + 0.58 * (a - 0.894) / 0.783): saturating, on the 0-17 bin
   scale (mean ~11.1, sd ~1.9 on random sequences). Column ``true_expression``.

Measurement, like sort-seq: with probability 0.58 a row is a *singleton* (one cell): label =
round(e + N(0, 1.6)) clipped to 0..17, an integer; otherwise n = 2 + Poisson(4) cells: label =
e + N(0, 1.6 / sqrt(n)) clipped to [0, 17] (never an integer in practice). ``is_singleton`` marks
integer labels exactly as the converter does for real DREAM data. Measured on 200k rows: labels
mean 11.1, sd 2.3 (real sample: 11.15, 2.35); Pearson r(label, truth) ~0.82 overall, ~0.76 for
singletons, ~0.94 for the others.

Test suite (``DIR/test_suite/suite.tsv`` + ``pairs.tsv``, the suite format of ``evaluate``:
``format/suite_tsv.py``; written by ``simulate/simulated_suite.py``), measured precisely
(label = e + N(0, 0.15), no singletons):
``random``; ``high`` / ``low`` (top / bottom of 10x as many random candidates); ``snv`` (ref +
alt with one substitution in the insert); ``motif_perturbation`` (ref with a planted Reb1 or
Hsf1 site, alt with 3 of its positions mutated). Everything is seeded: the same seed gives
byte-identical shards and suite files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from prixfixe_blocks.data.format.plasmid import make_flanks
from prixfixe_blocks.data.format.schema import LEFT_ADAPTER, RIGHT_ADAPTER, stable_fold
from prixfixe_blocks.data.format.suite_tsv import SUITE_DIR
from prixfixe_blocks.data.simulate.motifs import MOTIFS
from prixfixe_blocks.data.simulate.seqgen import BYTES, random_codes, to_strings
from prixfixe_blocks.data.simulate.simulated_suite import TRUTH, write_test_suite
from prixfixe_blocks.data.simulate.truth import MAX_BIN, expression
from prixfixe_blocks.data.write.publish import dataset_output
from prixfixe_blocks.data.write.writer import DatasetWriter

SINGLETON_RATE = 0.58
CELL_SD = 1.6
CHUNK = 65_536
N_FOLDS = 10
TARGET = "expression"
def measure(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sort-seq-like labels: integer singletons (58%) or a mean over 2 + Poisson(4) cells."""
    n = len(truth)
    singleton = rng.random(n) < SINGLETON_RATE
    cells = 2 + rng.poisson(4, size=n)
    noise = rng.standard_normal(n) * CELL_SD
    label = np.where(singleton, np.round(truth + noise), truth + noise / np.sqrt(cells))
    return np.clip(label, 0.0, MAX_BIN).astype(np.float32)


def _table(codes: np.ndarray, lengths: np.ndarray, label: np.ndarray,
           truth: np.ndarray) -> pa.Table:
    seqs = to_strings(codes, lengths)
    cols = {"sequence": seqs, TARGET: pa.array(label), "fold": pa.array(stable_fold(seqs, N_FOLDS)),
            "is_singleton": pa.array((label == np.round(label)).astype(np.int8)),
            TRUTH: pa.array(truth)}
    return pa.table(cols)


def train_chunk(seed: int, index: int, n: int) -> pa.Table:
    """Training rows of chunk ``index`` (its own seeded stream: independent of chunking)."""
    rng = np.random.default_rng([seed, 1, index])
    codes, lengths = random_codes(rng, n)
    truth = expression(codes, lengths)
    return _table(codes, lengths, measure(truth, rng), truth)


def simulated_flanks(seed: int, flank_bp: int = 500) -> dict[str, str]:
    """Random but seeded vector sequence around the adapters (dataset.json ``plasmid``)."""
    rng = np.random.default_rng([seed, 0])
    vec = BYTES[rng.integers(0, 4, size=2 * flank_bp)].tobytes().decode()
    left = vec[: flank_bp - len(LEFT_ADAPTER)] + LEFT_ADAPTER
    right = RIGHT_ADAPTER + vec[flank_bp: 2 * flank_bp - len(RIGHT_ADAPTER)]
    return make_flanks(left, right)


def simulate(out: str | Path, rows: int, *, seed: int = 0, test_rows: int | None = None,
             shard_rows: int = 1_000_000, overwrite: bool = False) -> dict:
    """Write ``rows`` training rows to ``out`` (a directory or a URI) and the test suite to
    ``out/test_suite``."""
    test_rows = test_rows if test_rows is not None else int(np.clip(rows // 100, 100, 2000))
    flanks = simulated_flanks(seed)
    source = {"format": "simulate", "input": None, "seed": seed, "generator": "prixfixe-sim-1",
              "singleton_rate": SINGLETON_RATE, "cell_sd": CELL_SD, "motifs": list(MOTIFS)}
    t0 = time.perf_counter()
    with dataset_output(out, overwrite) as local_out, \
            DatasetWriter(local_out, targets=[TARGET], n_folds=N_FOLDS, source=source,
                          plasmid=flanks, shard_rows=shard_rows) as writer:
        for index, start in enumerate(range(0, rows, CHUNK)):
            writer.write(train_chunk(seed, index, min(CHUNK, rows - start)))
        write_test_suite(writer.tmp / SUITE_DIR, seed, test_rows, TARGET)
        meta = writer.commit({"test_rows_per_subset": test_rows})
    return {"rows": meta.rows["total"], "seconds": time.perf_counter() - t0}

