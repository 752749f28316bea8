"""Plasmid flanks around the insert slot, recorded in dataset.json (``plasmid`` key).

The plasmid file is a JSON string, a FASTA file or plain text; the insert slot is the single
run of ``N`` (80 in the DREAM plasmid). The left flank is the plasmid immediately 5' of the slot
(it ends with the 17 bp left adapter), the right flank immediately 3' of it (it starts with the
13 bp right adapter). The plasmid is circular, so flanks wrap around its ends if needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from prixfixe_blocks.data.format.schema import ALPHABET, LEFT_ADAPTER, RIGHT_ADAPTER
from prixfixe_blocks.errors import DataError

FLANK_BP = 500
MIN_SLOT = 20


def _read_sequence(path: Path) -> str:
    """Plasmid text from JSON (a string), FASTA or plain text, upper-cased, whitespace removed."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read plasmid: {err}", path=str(path)) from None
    stripped = text.strip()
    if stripped.startswith('"'):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err}", path=str(path)) from None
        if not isinstance(value, str):
            raise DataError("plasmid JSON must be a string", path=str(path))
        stripped = value
    lines = [ln for ln in stripped.splitlines() if not ln.startswith(">")]
    return re.sub(r"\s+", "", "".join(lines)).upper()


def make_flanks(left: str, right: str) -> dict[str, str]:
    """The dataset.json ``plasmid`` mapping for given 5' and 3' flanks."""
    return {"left_flank": left, "right_flank": right,
            "left_adapter": left[-len(LEFT_ADAPTER):],
            "right_adapter": right[: len(RIGHT_ADAPTER)]}


def plasmid_flanks(seq: str, *, flank_bp: int = FLANK_BP, source: str = "plasmid") -> dict:
    """Cut ``flank_bp`` bases either side of the single N-run insert slot of a circular plasmid."""
    bad = set(seq) - set(ALPHABET)
    if bad:
        raise DataError(f"invalid characters {sorted(bad)} in plasmid", path=source)
    slots = [m.span() for m in re.finditer(r"N+", seq) if m.end() - m.start() >= MIN_SLOT]
    if len(slots) != 1:
        raise DataError(f"expected exactly one insert slot (a run of >= {MIN_SLOT} N), "
                        f"found {len(slots)}", path=source)
    start, end = slots[0]
    backbone = len(seq) - (end - start)
    if backbone < 2 * flank_bp:
        raise DataError(f"plasmid too short: {backbone} bp outside the slot, need {2 * flank_bp}",
                        path=source)
    ring = seq[end:] + seq[:start]  # the backbone, starting right after the slot
    right, left = ring[:flank_bp], ring[-flank_bp:]
    flanks = make_flanks(left, right)
    if flanks["left_adapter"] != LEFT_ADAPTER or flanks["right_adapter"] != RIGHT_ADAPTER:
        raise DataError(f"insert slot is not framed by the adapters {LEFT_ADAPTER} ... "
                        f"{RIGHT_ADAPTER}", path=source)
    return flanks


def load_plasmid(path: str | Path) -> dict[str, str]:
    """Read a plasmid file and return its flanks (dataset.json ``plasmid`` mapping)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("plasmid file not found", path=str(p))
    return plasmid_flanks(_read_sequence(p), source=str(p))
