"""The seed's blocks beside ours: its classes, its weights mapped onto ours, real encoded inputs.

The seed's `prixfixe/` package (MIT) is imported at run time from ../shared/seed by
benchmarks/seed_code.py; nothing of it is copied here. `seed_to_ours` is the state-dict mapping
documented in docs/BLOCKS.md ("The seed's weights in our blocks").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.seed_code import load_seed
from prixfixe_blocks.blocks.registry import get_block, make_config
from prixfixe_blocks.data.format.plasmid import load_plasmid
from prixfixe_blocks.presets import PORT_STRATEGIES
from prixfixe_blocks.shapes import Shape
from prixfixe_blocks.strategies.input_encodings import Encoder, encoding_params
from prixfixe_blocks.strategies.targets import make_target
from tests.spec_support import tiny_params

REPO = Path(__file__).resolve().parents[1]
SEED_DIR = REPO.parent / "shared" / "seed"
DREAM = REPO.parent / "shared" / "data" / "dream"
BN_MOMENTUM = 0.1  # torch's and both teams' BatchNorm momentum
TOLERANCE = 1e-5  # max abs difference allowed between ours and the seed's outputs (float32)

# -- the state-dict mapping: the seed's parameter names -> ours ----------------------------------
# The seed's LegNet inverted-residual Sequential (conv, BN, SiLU, conv, BN, SiLU, SE, conv, BN,
# SiLU) -> our EffBlock.net (three ConvBnAct around a SqueezeExcite whose Sequential is `gate`).
INV_RES = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6.fc": "2.gate", "7": "3.0",
           "8": "3.1"}
Repl = str | Callable[[re.Match[str]], str]
RENAMES: dict[tuple[str, str], tuple[tuple[str, Repl], ...]] = {
    ("first", "autosome"): ((r"block\.", "stem."),),
    ("core", "autosome"): (
        (r"seqextractor\.inv_res_blc(\d+)\.(6\.fc|\d)\.",
         lambda m: f"blocks.{m[1]}.inner.net.{INV_RES[m[2]]}."),
        (r"seqextractor\.resize_blc(\d+)\.", r"blocks.\1.resize."),
    ),
    ("final", "autosome"): ((r"mapper\.0\.", "mapper."),),
    ("first", "bhi"): ((r"conv_list\.(\d+)\.conv\.", r"convs.convs.\1."),),
    ("core", "bhi"): ((r"lstm\.", "lstm."), (r"conv_list\.(\d+)\.conv\.", r"convs.convs.\1.")),
    ("final", "bhi"): ((r"main\.(\d+)\.", lambda m: f"head.net.{1 + 3 * int(m[1]) // 2}."),),
    ("first", "unlockdna"): ((r"kmer_dense\.", "embed."), (r"strand_embedding\.", "strand.")),
    ("core", "unlockdna"): (
        (r"pos_embedding\.weight", "position"),
        (r"\.layernorm\.", ".norm."), (r"\.linear1\.", ".up."), (r"\.linear2\.", ".down."),
        (r"\.layernorm1\.", ".conv.norm."), (r"\.conv\.0\.", ".conv.depthwise."),
        (r"\.conv\.1\.", ".conv.pointwise."), (r"\.layernorm2\.", ".norm."),
        (r"\.attn\.in_proj_", ".attn.qkv."), (r"\.attn\.out_proj\.", ".attn.out."),
    ),
    ("final", "unlockdna"): ((r"expression_dense\.", "head."),
                             (r"nucleotide_dense\.", "mlm_head.")),
}
# Seed tensors its forward never reads (declared but unused), and its decoding constants.
SEED_ONLY = {
    ("first", "unlockdna"): ("pos_embedding.weight", "expression_embedding.weight",
                             "expression_embedding.bias"),
    ("final", "autosome"): ("bins",),  # 0..17; ours are the softbin target's (not saved)
}
# Our tensors without a seed counterpart (name prefixes): the target's constants (softbin's map
# to the bins, regression's standardization: the identity without dataset statistics) and
# Unlock_DNA's learned pseudo tokens (the seed prepends none; docs/BLOCKS.md).
OURS_ONLY = {"final": ("target.",), "first": ("pseudo",)}


def _reshaped(name: str, tensor: Tensor, shape: torch.Size) -> Tensor:
    """A seed tensor in our layout: the k-mer dense weight (out, kmer x channels, window position
    major) as our k-mer conv's (out, channels, kmer); a Linear on (B, L, d) as our 1x1 conv."""
    if tensor.shape == shape:
        return tensor
    if name.endswith("embed.weight"):
        out, channels, kmer = shape
        return tensor.reshape(out, kmer, channels).permute(0, 2, 1).contiguous()
    if name.endswith("mlm_head.weight"):
        return tensor.unsqueeze(-1)
    raise ValueError(f"{name}: the seed's {tuple(tensor.shape)}, ours {tuple(shape)}")


def seed_to_ours(role: str, team: str, state: dict[str, Tensor],
                 shapes: dict[str, torch.Size]) -> dict[str, Tensor]:
    """One seed block's state dict under our names, in the layout of our tensors' `shapes`
    (KeyError naming a seed tensor that no rule maps)."""
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if name in SEED_ONLY.get((role, team), ()):
            continue
        rules = [(p, r) for p, r in RENAMES[(role, team)] if re.search(p, name)]
        if not rules:
            raise KeyError(f"the seed's {role} block '{team}' has '{name}', which the mapping "
                           "does not know")
        ours = name
        for pattern, repl in rules:
            ours = re.sub(pattern, repl, ours)
        out[ours] = _reshaped(ours, tensor, shapes[ours]) if ours in shapes else tensor
    return out


def load_seed_weights(ours: nn.Module, seed: nn.Module, blocks: dict[str, str]) -> nn.Module:
    """Copy the seed's weights into our block or model. `blocks`: role -> team, one role for a
    block, all three for a model (names then start with the role). Every tensor of ours must
    be covered but those in OURS_ONLY, and every tensor of the seed's used."""
    state = seed.state_dict()
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    mapped: dict[str, Tensor] = {}
    for role, team in blocks.items():
        prefix = f"{role}." if len(blocks) > 1 else ""
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        ours_part = {k[len(prefix):]: v for k, v in shapes.items() if k.startswith(prefix)}
        mapped.update({prefix + k: v for k, v in seed_to_ours(role, team, part, ours_part).items()})
    result = ours.load_state_dict(mapped, strict=False)
    allowed = tuple((f"{role}." if len(blocks) > 1 else "") + k
                    for role in blocks for k in OURS_ONLY.get(role, ()))
    assert not result.unexpected_keys, result.unexpected_keys
    uncovered = [k for k in result.missing_keys if not k.startswith(allowed)]
    assert not uncovered, uncovered
    return ours


@torch.no_grad()
def randomize(module: nn.Module, x: Tensor, seed: int = 0) -> nn.Module:
    """`module` in eval mode with fresh weights and BatchNorm statistics measured on `x`, so
    that no tensor sits at a value (0, 1, LegNet's tiny linear init) that would hide a wrong
    mapping, and the outputs still depend on the input: weights N(0, 1 / fan-in), norm scales
    1 + N(0, 0.1^2), biases N(0, 0.1^2); running mean and variance of `x`'s batch. (At twice
    that weight variance DREAM-Attn's stream reaches |10| and float32 rounding alone gives
    1.2e-5 between the two attention kernels.)"""
    gen = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        noise = torch.randn(p.shape, generator=gen)
        if p.dim() == 1:
            p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * noise)
        else:
            p.copy_(noise / p[0].numel() ** 0.5)
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm1d)]
    module.eval()
    for norm in norms:  # a cumulative average over one batch: its statistics
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    if norms:
        module(x)
    for norm in norms:
        norm.momentum = BN_MOMENTUM
    return module.eval()


# -- ours, built from the registry ----------------------------------------------------------------
def our_block(role: str, name: str, shape: Shape, *, tiny: bool = False, target: str = "softbin",
              **params: object) -> nn.Module:
    """Our block from the registry, at its published defaults (or tiny params) with `params`
    over them; a final block predicts `target`."""
    config = make_config(role, name, {**(tiny_params(role, name) if tiny else {}), **params})
    entry = get_block(role, name)
    if role == "final":
        return entry.cls(config, shape, make_target(target, 1, None))
    return entry.cls(config, shape)


# -- real DREAM rows, encoded as each team's strategy does ---------------------------------------
def dream_rows(n: int) -> tuple[list[str], np.ndarray]:
    """The first `n` rows of the real DREAM sample: sequences and their is_singleton flags
    (integer expression: the sequence was seen in one bin only)."""
    lines = (DREAM / "train_sample.txt").read_text().splitlines()[:n]
    seqs, values = zip(*(line.split("\t") for line in lines), strict=True)
    expression = np.asarray(values, dtype=np.float64)
    return list(seqs), (expression == np.round(expression)).astype(np.float32)


def encoded(team: str, n: int) -> Tensor:
    """`n` real rows in `team`'s encoding (with the DREAM plasmid): the first half on the forward
    strand, the second reverse-complemented (autosome: with the real is_singleton flags)."""
    meta = SimpleNamespace(plasmid=load_plasmid(DREAM / "plasmid.json"), targets=["expression"],
                           columns=["sequence", "expression", "is_singleton"])
    encoder = Encoder(encoding_params(PORT_STRATEGIES[team], meta))
    seqs, singleton = dream_rows(n)
    half = n // 2
    parts = [encoder.encode_sequences(seqs[:half], reverse=False, singleton=singleton[:half]),
             encoder.encode_sequences(seqs[half:], reverse=True, singleton=singleton[half:])]
    return torch.cat([p["x"] for p in parts])


def assert_same(ours: Tensor, seed: Tensor) -> float:
    """Ours equals the seed's within TOLERANCE, on outputs that vary over the rows (a constant
    output would pass for any mapping); returns the max abs difference."""
    assert ours.shape == seed.shape, (ours.shape, seed.shape)
    assert float(seed.std(dim=0).max()) > 0.01, "the seed's outputs barely vary over the rows"
    diff = float((ours - seed).abs().max())
    assert diff <= TOLERANCE, diff
    return diff


def seed_classes() -> dict[str, type]:
    """The seed's block classes and PrixFixeNet (benchmarks/seed_code.py)."""
    return load_seed(SEED_DIR)

