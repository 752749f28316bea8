"""A parameter's names, and the one translation between them.

A block field has three forms: its search name `core.bhi.channels` (role, block, field: every
sampled name has one distribution, whatever other blocks declare), its spec key `core.channels`
(the flat ModelSpec: Tune configs after `config_to_spec`, MLflow params, `--set`, `spec.json`)
and its field `channels` (the block config's). A role alone (`core`) names the chosen block; a
strategy field is `strategy.lr` as a search name and as a spec key. Every place that builds or
reads these keys goes through `ParamName`, never through string cutting.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: tuple[str, str, str] = ("first", "core", "final")
STRATEGY = "strategy"  # the spec keys' prefix for StrategySpec fields


@dataclass(frozen=True)
class ParamName:
    """One parameter: `role` (a block role or STRATEGY), `field` (None: the block chosen for the
    role) and `block` (the block a field belongs to: known from a search name)."""

    role: str
    field: str | None = None
    block: str | None = None

    @classmethod
    def parse(cls, key: str) -> ParamName | None:
        """The parameter `key` names in any form; None when it is none of them."""
        parts = key.split(".")
        if not all(parts):
            return None
        if parts[0] == STRATEGY:
            return cls(STRATEGY, parts[1]) if len(parts) == 2 else None
        if parts[0] not in ROLES or len(parts) > 3:
            return None
        if len(parts) == 3:
            return cls(parts[0], parts[2], parts[1])
        return cls(parts[0], parts[1] if len(parts) == 2 else None)

    @property
    def spec_key(self) -> str:
        """`core.channels`, `strategy.lr`; `core` for the block choice."""
        return self.role if self.field is None else f"{self.role}.{self.field}"

    @property
    def search_name(self) -> str:
        """`core.bhi.channels` for a block field (ValueError without its block); otherwise the
        spec key."""
        if self.role == STRATEGY or self.field is None:
            return self.spec_key
        if self.block is None:
            raise ValueError(f"the search name of {self.spec_key} needs its block")
        return f"{self.role}.{self.block}.{self.field}"
