"""Imports every team module so that their blocks are in the registry."""

from prixfixe_blocks import autosome, bhi, camformers, unlockdna  # noqa: F401
