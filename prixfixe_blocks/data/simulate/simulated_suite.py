"""The simulated test suite: random, high, low, SNV pairs and motif perturbation pairs.

Each subset is generated from its own seeded stream and measured precisely (label = truth +
N(0, 0.15), no singletons), like the real DREAM test set. It is written in the suite format of
`evaluate` (prixfixe_blocks/data/format/suite_tsv.py): suite.tsv with the label, the truth
(``true_expression``) and the subset of each sequence, and pairs.tsv with the (ref, alt) pairs
of the pair subsets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prixfixe_blocks.data.format.suite_tsv import write_suite
from prixfixe_blocks.data.simulate.motifs import MOTIFS, sample_site
from prixfixe_blocks.data.simulate.seqgen import CODE, LEFT_LEN, RIGHT_LEN, random_codes, to_strings
from prixfixe_blocks.data.simulate.truth import expression

TEST_SD = 0.15
SUBSETS = ("random", "high", "low", "snv", "motif_perturbation")
PAIRED = ("snv", "motif_perturbation")
PERTURBED = ("Reb1", "Hsf1")
TRUTH = "true_expression"  # the noise-free column of simulated data


def _extremes(rng: np.random.Generator, n: int, high: bool) -> tuple[np.ndarray, np.ndarray]:
    """The top (or bottom) n of 10n random candidates by true expression."""
    codes, lengths = random_codes(rng, 10 * n)
    truth = expression(codes, lengths)
    order = np.argsort(truth)
    pick = order[-n:] if high else order[:n]
    return codes[pick], lengths[pick]


def _snv_pairs(rng: np.random.Generator, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """ref/alt rows interleaved: alt has one substitution inside the random insert."""
    ref, lengths = random_codes(rng, n_pairs)
    alt = ref.copy()
    pos = LEFT_LEN + (rng.random(n_pairs) * (lengths - LEFT_LEN - RIGHT_LEN)).astype(np.int64)
    rows = np.arange(n_pairs)
    alt[rows, pos] = (ref[rows, pos] + rng.integers(1, 4, size=n_pairs)) % 4
    return _interleave(ref, alt), np.repeat(lengths, 2)


def _motif_pairs(rng: np.random.Generator, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """ref with a planted Reb1 or Hsf1 site, alt with 3 of the site's positions mutated."""
    ref, lengths = random_codes(rng, n_pairs)
    alt = ref.copy()
    for i in range(n_pairs):
        site = sample_site(MOTIFS[PERTURBED[i % len(PERTURBED)]].consensus, rng)
        room = lengths[i] - LEFT_LEN - RIGHT_LEN - len(site)
        start = LEFT_LEN + int(rng.integers(0, room + 1))
        site_codes = CODE[np.frombuffer(site.encode(), np.uint8)]
        ref[i, start: start + len(site)] = site_codes
        alt[i, start: start + len(site)] = site_codes
        hits = start + rng.choice(len(site), size=3, replace=False)
        alt[i, hits] = (ref[i, hits] + rng.integers(1, 4, size=3)) % 4
    return _interleave(ref, alt), np.repeat(lengths, 2)


def _interleave(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    out = np.empty((2 * len(ref), ref.shape[1]), ref.dtype)
    out[0::2], out[1::2] = ref, alt
    return out


def _subset(rng: np.random.Generator, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "random":
        return random_codes(rng, n)
    if name in ("high", "low"):
        return _extremes(rng, n, name == "high")
    if name == "snv":
        return _snv_pairs(rng, max(1, n // 2))
    return _motif_pairs(rng, max(1, n // 2))


def write_test_suite(directory: Path, seed: int, rows_per_subset: int, measure: str) -> None:
    """Write suite.tsv (sequence, `measure`, true_expression, subset) and pairs.tsv into
    `directory` (created)."""
    seqs: list[str] = []
    labels, truths, subsets = [], [], []
    pairs: list[tuple[str, str, str]] = []
    for k, name in enumerate(SUBSETS):
        rng = np.random.default_rng([seed, 2, k])
        codes, lengths = _subset(rng, name, rows_per_subset)
        truth = expression(codes, lengths)
        labels.append((truth + rng.standard_normal(len(truth)) * TEST_SD).astype(np.float32))
        truths.append(truth)
        strings = to_strings(codes, lengths).to_pylist()
        if name in PAIRED:
            pairs.extend((name, ref, alt) for ref, alt in zip(strings[0::2], strings[1::2],
                                                               strict=True))
        seqs.extend(strings)
        subsets.extend([name] * len(strings))
    directory.mkdir(parents=True, exist_ok=True)
    write_suite(directory, seqs, {measure: np.concatenate(labels), TRUTH: np.concatenate(truths)},
                subsets, pairs)
