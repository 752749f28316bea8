"""Position weight matrices of yeast transcription factors, built from IUPAC consensus motifs.

The simulator's "known truth" is a function of these motifs. Each consensus is the commonly
cited binding site of the factor (YEASTRACT / SGD summaries of the primary literature and the
JASPAR fungi logos); they are approximations of real specificity, good enough to give the
simulated data realistic structure (short sites, palindromes, bipartite sites, poly-dA:dT).
No download: the table below is the whole source.

A consensus becomes a PWM by giving each IUPAC letter's bases equal probability ``1 - eps``
shared among them and ``eps`` shared among the other bases; scores are log2 odds against a
uniform background, so a perfect site of an informative length-w motif scores close to
2 bits per specific position and ``N`` positions score 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
    "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
BASES = "ACGT"


@dataclass(frozen=True)
class Motif:
    """A factor's consensus and its effect in the simulator's expression function.

    ``effect``: change of activity at full occupancy (negative = repressor);
    ``reverse``: weight of sites on the reverse strand relative to forward ones (orientation
    effect); ``note``: where the consensus comes from.
    """

    name: str
    consensus: str
    effect: float
    reverse: float
    note: str


MOTIFS: dict[str, Motif] = {m.name: m for m in (
    Motif("Reb1", "TTACCCGG", 2.0, 0.6, "Reb1 site TTACCCG(G); GRF, nucleosome-depleting"),
    Motif("Abf1", "RTCRYNNNNNACG", 1.8, 0.6, "bipartite Abf1 site RTCRYN5ACG; GRF"),
    Motif("Rap1", "RMACCCANNCAYY", 2.2, 1.0, "Rap1 site RMACCCANNCAYY (RP gene UAS)"),
    Motif("Gcn4", "ATGASTCAT", 1.5, 1.0, "Gcn4 AP-1 like site TGASTCA (palindrome)"),
    Motif("Msn2", "MAGGGG", 1.0, 0.8, "Msn2/4 stress response element (STRE) AGGGG"),
    Motif("Hsf1", "GAANNTTCNNGAA", 1.2, 1.0, "heat shock element, inverted nGAAn repeats"),
    Motif("Skn7", "GGCCAGA", 0.8, 0.8, "Skn7 oxidative stress site GGC(C)AGA"),
    Motif("Mga1", "TTCTAGAA", 0.8, 1.0, "Mga1 (HSF-like) site TTCTAGAA"),
    Motif("Ume6", "TAGCCGCCGA", -1.5, 1.0, "Ume6 URS1 repressor site (T)AGCCGCCGA"),
    Motif("Mot3", "YAGGYA", -0.8, 1.0, "Mot3 repressor site (C/T)AGG(C/T)A"),
    Motif("Azf1", "AAAAGAAA", 0.6, 0.8, "Azf1 site AAAAGAAA"),
    Motif("polyA", "AAAAAAAA", 1.0, 1.0, "poly-dA:dT tract (nucleosome-disfavouring)"),
)}

# Pairwise interactions: activity += weight * occupancy_a * occupancy_b.
INTERACTIONS: dict[tuple[str, str], float] = {
    ("Reb1", "Abf1"): 1.0,   # two general regulatory factors open chromatin together
    ("Gcn4", "Rap1"): 0.8,   # activator synergy
    ("Msn2", "Hsf1"): 0.5,   # stress factors
    ("Ume6", "Rap1"): -1.0,  # a repressor dampens the strongest activator
}


def pwm(consensus: str, eps: float = 0.1) -> np.ndarray:
    """float32 (W, 4) log2-odds matrix (A, C, G, T columns) of an IUPAC consensus."""
    out = np.zeros((len(consensus), 4), np.float64)
    for i, letter in enumerate(consensus.upper()):
        members = IUPAC[letter]
        k = len(members)
        for j, base in enumerate(BASES):
            if k == 4:
                out[i, j] = 0.25
            else:
                out[i, j] = (1 - eps) / k if base in members else eps / (4 - k)
    return np.log2(out / 0.25).astype(np.float32)


def reverse_pwm(matrix: np.ndarray) -> np.ndarray:
    """PWM of the reverse strand: positions reversed, A<->T and C<->G swapped."""
    return matrix[::-1, ::-1].copy()


def filter_bank(names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward and reverse PWMs of ``names`` zero-padded (3') to a common width.

    Returns (bank float32 (W, 4, 2F): column 2i forward and 2i+1 reverse of motif i,
    widths int (F,), best possible score float32 (F,)).
    """
    mats = [pwm(MOTIFS[n].consensus) for n in names]
    width = max(m.shape[0] for m in mats)
    bank = np.zeros((width, 4, 2 * len(mats)), np.float32)
    for i, m in enumerate(mats):
        bank[: m.shape[0], :, 2 * i] = m
        bank[: m.shape[0], :, 2 * i + 1] = reverse_pwm(m)
    widths = np.array([m.shape[0] for m in mats])
    best = np.array([m.max(axis=1).sum() for m in mats], np.float32)
    return bank, widths, best


def sample_site(consensus: str, rng: np.random.Generator) -> str:
    """One concrete site drawn from an IUPAC consensus (uniform over each letter's bases)."""
    return "".join(IUPAC[c][rng.integers(len(IUPAC[c]))] for c in consensus.upper())
