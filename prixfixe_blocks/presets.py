"""Published models as ModelSpecs (blocks + training strategy), and their tiny versions.

DREAM-CNN / -RNN / -Attn are the paper's best Prix Fixe combinations: all use Autosome.org's
strategy (150 bp plasmid encoding, 6 channels, RC augmentation, 18-bin soft classification,
AdamW + One Cycle) and its final block. The team presets follow each team's own strategy.
"""

from __future__ import annotations

from dataclasses import replace

from prixfixe_blocks.blocks.registry import tiny_params
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.spec import ROLES, BlockSpec, ModelSpec, StrategySpec

AUTOSOME_STRATEGY = StrategySpec(
    encoding="autosome", target="softbin", rc="augment", optimizer="adamw_onecycle", lr=0.005,
    weight_decay=0.01, batch_size=1024, epochs=80, batches_per_epoch=1000,
)
BHI_STRATEGY = StrategySpec(
    encoding="bhi", target="huber", rc="both", optimizer="adamw_cosine", lr=0.0015,
    weight_decay=0.01, batch_size=512, epochs=15, batches_per_epoch=None,
)
# Transformer warm-up; lr is the schedule's peak: 512^-0.5 * 12500^-0.5 ~ 4e-4.
UNLOCKDNA_STRATEGY = StrategySpec(
    encoding="unlockdna", target="mse", rc="none", optimizer="adam_warmup", lr=0.0004,
    weight_decay=0.0, batch_size=512, epochs=5, batches_per_epoch=None, mask_fraction=0.05,
    aux_weight=1.0, grad_clip=1.0, warmup_steps=12_500,
)
# Camformers used L1 + ReduceLROnPlateau; the nearest choices here are Huber + cosine.
CAMFORMERS_STRATEGY = StrategySpec(
    encoding="bhi", target="huber", rc="augment", optimizer="adamw_cosine", lr=0.001,
    weight_decay=0.01, batch_size=256, epochs=20, batches_per_epoch=None,
)

# The Prix Fixe port's BHI first block: 160 channels per kernel (320 in all).
_BHI_FIRST_160 = BlockSpec("bhi", {"channels": 160})

PRESETS: dict[str, ModelSpec] = {
    "dream-cnn": ModelSpec(_BHI_FIRST_160, BlockSpec("autosome"), BlockSpec("autosome"),
                           AUTOSOME_STRATEGY),
    "dream-rnn": ModelSpec(_BHI_FIRST_160, BlockSpec("bhi"), BlockSpec("autosome"),
                           AUTOSOME_STRATEGY),
    "dream-attn": ModelSpec(BlockSpec("autosome"), BlockSpec("unlockdna", {"d_model": 256}),
                            BlockSpec("autosome"), replace(AUTOSOME_STRATEGY, lr=0.001)),
    # LegNet as submitted: its SE gate had the extra bilinear layer (the port dropped it).
    "autosome": ModelSpec(BlockSpec("autosome"), BlockSpec("autosome", {"se_type": "bilinear"}),
                          BlockSpec("autosome"), AUTOSOME_STRATEGY),
    "bhi": ModelSpec(BlockSpec("bhi"), BlockSpec("bhi"), BlockSpec("bhi"), BHI_STRATEGY),
    "unlockdna": ModelSpec(BlockSpec("unlockdna"), BlockSpec("unlockdna"),
                           BlockSpec("unlockdna"), UNLOCKDNA_STRATEGY),
    "camformers": ModelSpec(BlockSpec("bhi"), BlockSpec("camformers"), BlockSpec("camformers"),
                            CAMFORMERS_STRATEGY),
}

# Published parameter counts (None: no published figure for this exact configuration).
PUBLISHED_PARAMETERS: dict[str, int | None] = {
    "dream-cnn": 1_930_000, "dream-rnn": 4_130_000, "dream-attn": 4_540_000,
    "autosome": 1_850_000, "bhi": 6_800_000, "unlockdna": None, "camformers": None,
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


def tiny_spec(spec: ModelSpec) -> ModelSpec:
    """`spec` with every block at its tiny params (small widths for tests and quick searches)."""
    blocks = {
        role: BlockSpec(spec.block(role).name,
                        {**spec.block(role).params, **tiny_params(role, spec.block(role).name)})
        for role in ROLES
    }
    return replace(spec, **blocks)
