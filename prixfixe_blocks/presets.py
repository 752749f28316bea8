"""Published models as ModelSpecs (blocks + training strategy), and their tiny versions.

Two versions of each top-three team exist: the challenge entry (the team's own code) and the
Prix Fixe port (the paper's reimplementation in the challenge repository's `prixfixe/`). Block
defaults are the port's; `CHALLENGE_BLOCKS` holds where each entry differs (docs/BLOCKS.md).
The team presets ("autosome", "bhi", "unlockdna") are the challenge entries; "<team>-port" are
the port's models, whose strategies the `prixfixe-grid` space runs.

DREAM-CNN / -RNN / -Attn are the paper's best Prix Fixe combinations: port blocks with
Autosome.org's strategy (150 bp plasmid encoding, 6 channels, RC augmentation, 18-bin soft
classification, AdamW + One Cycle) and its final block.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prixfixe_blocks.blocks.registry import width_params
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.spec import ROLES, BlockSpec, ModelSpec, StrategySpec

AUTOSOME_STRATEGY = StrategySpec(
    encoding="autosome", target="softbin", rc="augment", optimizer="adamw_onecycle", lr=0.005,
    weight_decay=0.01, batch_size=1024, epochs=80, batches_per_epoch=1000,
)
# One Cycle's max lr for a model with an attention core (the port's DREAM notebook).
ATTENTION_LR = 0.001
BHI_STRATEGY = StrategySpec(
    encoding="bhi", target="huber", rc="both", optimizer="adamw_cosine", lr=0.0015,
    weight_decay=0.01, batch_size=512, epochs=15, batches_per_epoch=None,
)
# Transformer warm-up; lr is the schedule's peak: 512^-0.5 * 12500^-0.5 (~3.95e-4).
UNLOCKDNA_WARMUP = 12_500
UNLOCKDNA_STRATEGY = StrategySpec(
    encoding="unlockdna", target="mse", rc="none", optimizer="adam_warmup",
    lr=(512 * UNLOCKDNA_WARMUP) ** -0.5, weight_decay=0.0, batch_size=512, epochs=5,
    batches_per_epoch=None, mask_fraction=0.05, aux_weight=1.0, grad_clip=1.0,
    warmup_steps=UNLOCKDNA_WARMUP,
)
# The port masks 20% of the bases (the challenge entry 5%); the rest of its strategies is the
# challenge entries' (docs/BLOCKS.md lists what the port's trainers do differently and why not).
PORT_STRATEGIES: dict[str, StrategySpec] = {
    "autosome": AUTOSOME_STRATEGY,
    "bhi": BHI_STRATEGY,
    "unlockdna": replace(UNLOCKDNA_STRATEGY, mask_fraction=0.2),
}
# Camformers used L1 + ReduceLROnPlateau; the nearest choices here are Huber + cosine.
CAMFORMERS_STRATEGY = StrategySpec(
    encoding="bhi", target="huber", rc="augment", optimizer="adamw_cosine", lr=0.001,
    weight_decay=0.01, batch_size=256, epochs=20, batches_per_epoch=None,
)

# Block params of the challenge entries where they differ from the port (the defaults).
CHALLENGE_BLOCKS: dict[tuple[str, str], dict[str, Any]] = {
    ("first", "bhi"): {"channels": 256},
    ("first", "unlockdna"): {"kmer": 10, "n_pseudo": 32, "position": True,
                             "shared_pseudo": True},
    ("core", "autosome"): {"se_type": "bilinear"},
    ("core", "unlockdna"): {"n_heads": 8, "full_heads": True, "position": False,
                            "norm_residual": False},
    ("final", "autosome"): {"silu": True},
    ("final", "unlockdna"): {"dropout": 0.1, "mlm_classes": 6},
}


def challenge_block(role: str, name: str) -> BlockSpec:
    """A block as the team's challenge entry had it."""
    return BlockSpec(name, dict(CHALLENGE_BLOCKS.get((role, name), {})))


def _team(team: str, strategy: StrategySpec, *, challenge: bool) -> ModelSpec:
    blocks = [challenge_block(role, team) if challenge else BlockSpec(team) for role in ROLES]
    return ModelSpec(*blocks, strategy)


def port_strategy(team: str, core: str) -> StrategySpec:
    """The port's strategy of `team` for a model with `core` (a lower One Cycle max lr with an
    attention core)."""
    strategy = PORT_STRATEGIES[team]
    if strategy.optimizer == "adamw_onecycle" and core == "unlockdna":
        return replace(strategy, lr=ATTENTION_LR)
    return strategy


PRESETS: dict[str, ModelSpec] = {
    "dream-cnn": ModelSpec(BlockSpec("bhi"), BlockSpec("autosome"), BlockSpec("autosome"),
                           port_strategy("autosome", "autosome")),
    "dream-rnn": ModelSpec(BlockSpec("bhi"), BlockSpec("bhi"), BlockSpec("autosome"),
                           port_strategy("autosome", "bhi")),
    "dream-attn": ModelSpec(BlockSpec("autosome"), BlockSpec("unlockdna", {"d_model": 256}),
                            BlockSpec("autosome"), port_strategy("autosome", "unlockdna")),
    "autosome": _team("autosome", AUTOSOME_STRATEGY, challenge=True),
    "bhi": _team("bhi", BHI_STRATEGY, challenge=True),
    "unlockdna": _team("unlockdna", UNLOCKDNA_STRATEGY, challenge=True),
    **{f"{team}-port": _team(team, port_strategy(team, team), challenge=False)
       for team in PORT_STRATEGIES},
    "camformers": ModelSpec(challenge_block("first", "bhi"), BlockSpec("camformers"),
                            BlockSpec("camformers"), CAMFORMERS_STRATEGY),
}

# Published parameter counts (None: no published figure for this exact configuration).
PUBLISHED_PARAMETERS: dict[str, int | None] = {
    "dream-cnn": 1_930_000, "dream-rnn": 4_130_000, "dream-attn": 4_540_000,
    "autosome": 1_850_000, "bhi": 6_800_000, "unlockdna": 47_000_000, "camformers": None,
    "autosome-port": None, "bhi-port": None, "unlockdna-port": None,
}


def preset_names() -> list[str]:
    """Names of the presets, sorted."""
    return sorted(PRESETS)


def get_preset(name: str) -> ModelSpec:
    """A preset's ModelSpec; ConfigError lists the known names if missing."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset '{name}' (presets: {', '.join(preset_names())})") \
            from None


def with_width(spec: ModelSpec, width: str) -> ModelSpec:
    """`spec` with every block's width fields at `width` (tiny, small, published), as the
    search's `--width` sets them: published keeps the spec's own params."""
    blocks = {
        role: BlockSpec(spec.block(role).name,
                        {**spec.block(role).params, **width_params(role, spec.block(role).name,
                                                                   width)})
        for role in ROLES
    }
    return replace(spec, **blocks)
