"""Import the seed's Prix Fixe blocks at run time, for the tests and benchmarks that compare ours.

The seed (de-Boer-Lab/random-promoter-dream-challenge-2022, MIT) is read from a clone, or from
the copy of its `prixfixe/` package beside the checkout (`../shared/seed`); nothing of it is
copied here. Its team packages' `__init__` also import data processors, trainers and, for
unlockdna, Biopython, which building a block does not need: each team package is replaced by a
stub that imports only the block modules.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

TEAMS = ("autosome", "bhi", "unlockdna")
# The seed's block modules: each team's first, core and final layers.
BLOCK_MODULES = ("first_layers_block", "coreblock", "final_layers_block")
SEED_PACKAGE = "prixfixe"  # the seed's top-level package (its base classes in prixfixe.prixfixe)
PRESETS = ("dream-cnn", "dream-rnn", "dream-attn")  # the models the seed's DREAM notebook builds
SEQ_LEN = 150  # the Autosome.org encoding every DREAM preset trains on
CHANNELS = 6  # 4 one-hot + is_reverse + is_singleton


class SeedNotFound(ImportError):
    """The given folder is not the seed's code (the message names the path and what is missing)."""


def load_seed(repo: Path | str) -> dict[str, type]:
    """The seed's block classes by name (`AutosomeCoreBlock`, ...) and `PrixFixeNet`, imported
    from `repo` (a folder holding the seed's `prixfixe/` package). Imported once per process."""
    return dict(_load(Path(repo).resolve()))


@functools.cache
def _load(repo: Path) -> dict[str, type]:
    package = repo / SEED_PACKAGE
    if not repo.is_dir():
        raise SeedNotFound(f"{repo}: no such directory (give a clone of de-Boer-Lab/"
                           "random-promoter-dream-challenge-2022 or ../shared/seed)")
    missing = [str(package / team) for team in (*TEAMS, SEED_PACKAGE)
               if not (package / team).is_dir()]
    if missing:
        raise SeedNotFound(f"{repo}: not the seed's code (missing {', '.join(missing)}; "
                           "expected its prixfixe/ package)")
    sys.path.insert(0, str(repo))
    root = importlib.import_module(SEED_PACKAGE)
    if Path(root.__file__ or "").resolve().parent != package:
        raise SeedNotFound(f"{repo}: another '{SEED_PACKAGE}' package was imported first "
                           f"({root.__file__})")
    classes: dict[str, type] = {
        "PrixFixeNet": importlib.import_module(f"{SEED_PACKAGE}.prixfixe").PrixFixeNet}
    for team in TEAMS:
        name = f"{SEED_PACKAGE}.{team}"
        stub = types.ModuleType(name)  # the package without its __init__ (see the docstring)
        stub.__path__ = [str(package / team)]
        stub.__package__ = name
        sys.modules[name] = stub
        setattr(root, team, stub)
        for module in BLOCK_MODULES:
            loaded = importlib.import_module(f"{name}.{module}")
            classes.update({k: v for k, v in vars(loaded).items()
                            if isinstance(v, type) and k.endswith("Block")})
    return classes


def seed_model(seed: dict[str, Any], preset: str, generator: torch.Generator) -> nn.Module:
    """The seed's model for `preset`, built with its DREAM notebook's arguments
    (DREAMNets_BuildModel_Train_and_Predict: BHI first + Autosome core for DREAM-CNN, BHI first +
    BHI core for DREAM-RNN, Autosome first + Unlock_DNA core for DREAM-Attn, all with Autosome's
    final block)."""
    if preset == "dream-attn":
        first = seed["AutosomeFirstLayersBlock"](in_channels=CHANNELS, out_channels=256,
                                                  seqsize=SEQ_LEN)
        core = seed["UnlockDNACoreBlock"](in_channels=first.out_channels,
                                          out_channels=first.out_channels, seqsize=SEQ_LEN,
                                          n_blocks=4, kernel_size=15, rate=0.1, num_heads=8)
    else:
        first = seed["BHIFirstLayersBlock"](in_channels=CHANNELS, out_channels=320,
                                             seqsize=SEQ_LEN, kernel_sizes=[9, 15],
                                             pool_size=1, dropout=0.2)
        if preset == "dream-cnn":
            core = seed["AutosomeCoreBlock"](in_channels=first.out_channels, out_channels=64,
                                             seqsize=first.infer_outseqsize())
        else:
            core = seed["BHICoreBlock"](in_channels=first.out_channels, out_channels=320,
                                        seqsize=first.infer_outseqsize(),
                                        lstm_hidden_channels=320, kernel_sizes=[9, 15],
                                        pool_size=1, dropout1=0.2, dropout2=0.5)
    final = seed["AutosomeFinalLayersBlock"](in_channels=core.out_channels,
                                             seqsize=core.infer_outseqsize())
    return seed["PrixFixeNet"](first=first, core=core, final=final, generator=generator)
