"""Network blocks: the block contract, the registry, shared layers, adapters and compose.

Importing this package imports every team module, so that their blocks are registered before
anything looks a block up by name.
"""

from prixfixe_blocks.blocks import autosome, bhi, camformers, unlockdna  # noqa: F401
