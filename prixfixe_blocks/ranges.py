"""Search ranges declared beside config fields, and how each field scales with the width.

A block or strategy config is a frozen dataclass whose fields are made with `param(default,
search=..., tiny=..., multiple_of=...)`: the published default, the range a search may vary it
in, its value at the `tiny` width and the constraints every width must respect. Search spaces
read only these declarations, so a new block is searched correctly by declaring its fields.

Range kinds: `Fixed()` (not searched), `Choice(options)` (or `Choice(registry=KIND)` for a
strategy component's registered names), `Ints(low, high, step, log)`, `Floats(low, high, log)`
(absolute ranges), `Widths(step)` (half to twice the field's value at the run's width, in
multiples of `step` and of `multiple_of`), `Around(delta)` (the value at the width +- delta).
`coerce` reads a value given for a field (possibly a command-line string) as its annotated type.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from prixfixe_blocks.errors import ConfigError

WIDTHS: tuple[str, ...] = ("tiny", "small", "published")
_META = "prixfixe"


@dataclass(frozen=True)
class Fixed:
    """Not searched: the field keeps its value at the run's width."""


@dataclass(frozen=True)
class Choice:
    """A categorical choice among `options`, or among the names registered for `registry`."""

    options: tuple[Any, ...] = ()
    registry: str | None = None


@dataclass(frozen=True)
class Ints:
    """An integer in [low, high] (absolute, whatever the width)."""

    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class Floats:
    """A float in [low, high] (absolute, whatever the width)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Widths:
    """A width: from half to twice its value at the run's width, in multiples of `step`."""

    step: int = 8


@dataclass(frozen=True)
class Around:
    """A small count (blocks, k-mer size): its value at the run's width +- `delta`."""

    delta: int = 1


Range = Fixed | Choice | Ints | Floats | Widths | Around


@dataclass(frozen=True)
class Declared:
    """What a field declares (stored in its dataclass field metadata)."""

    search: Range
    tiny: Any = None
    multiple_of: str | int | None = None
    minimum: int = 1


@dataclass(frozen=True)
class Dist:
    """One sampled parameter's distribution: kind "int" | "float" | "categorical"."""

    kind: str
    low: Any = None
    high: Any = None
    step: int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()


def param(default: Any, *, search: Range | None = None, tiny: Any = None,
          multiple_of: str | int | None = None, minimum: int = 1) -> Any:
    """A config field with its published `default`, search range and width declarations."""
    meta = {_META: Declared(search or Fixed(), tiny, multiple_of, minimum)}
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata=meta)


def declared(f: Field) -> Declared:
    """A field's declaration (a field made without `param` is not searched)."""
    return f.metadata.get(_META) or Declared(Fixed())


def default_of(f: Field) -> Any:
    """A dataclass field's default value (None when it has none)."""
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None  # type: ignore[misc]


def check_width(width: str) -> None:
    """ConfigError naming the choices for an unknown width."""
    if width not in WIDTHS:
        raise ConfigError(f"unknown width '{width}' (choices: {', '.join(WIDTHS)})")


def values_at_width(config_cls: type, width: str) -> dict[str, Any]:
    """Every field's value at `width`: published = default, tiny = its `tiny`, small = between
    the two; multiples and minimums are respected at every width."""
    check_width(width)
    fs = fields(config_cls)
    raw = {f.name: _raw_at_width(f, width) for f in fs}
    if width == "published":
        return raw
    return {f.name: _constrained(raw[f.name], declared(f), raw) for f in fs}


def width_overrides(config_cls: type, width: str) -> dict[str, Any]:
    """The fields whose value at `width` differs from the published default."""
    values = values_at_width(config_cls, width)
    return {f.name: values[f.name] for f in fields(config_cls)
            if values[f.name] != default_of(f)}


def distributions(config_cls: type, width: str,
                  registry_names: Any = None) -> dict[str, Dist]:
    """Searched fields -> their distribution at `width` (`registry_names(kind)` lists a
    registry-backed choice's options)."""
    values = values_at_width(config_cls, width)
    out: dict[str, Dist] = {}
    for f in fields(config_cls):
        dist = _dist(declared(f), values[f.name], values, registry_names)
        if dist is not None:
            out[f.name] = dist
    return out


def check_declarations(config_cls: type) -> None:
    """ValueError when a declaration cannot hold at every width (a `multiple_of` that names an
    unknown or searched field, a tiny value on an absolute range, ...)."""
    by_name = {f.name: f for f in fields(config_cls)}
    for f in fields(config_cls):
        decl = declared(f)
        ref = decl.multiple_of
        if isinstance(ref, str):
            if ref not in by_name:
                raise ValueError(f"{config_cls.__name__}.{f.name}: multiple_of names no field "
                                 f"'{ref}'")
            if not isinstance(declared(by_name[ref]).search, Fixed):
                raise ValueError(f"{config_cls.__name__}.{f.name}: multiple_of '{ref}' must be "
                                 "a field that is not searched")
        if isinstance(decl.search, Widths | Around) and not isinstance(default_of(f), int):
            raise ValueError(f"{config_cls.__name__}.{f.name}: {type(decl.search).__name__} "
                             "needs an int field")
    for width in WIDTHS:
        config_cls(**values_at_width(config_cls, width))


def _raw_at_width(f: Field, width: str) -> Any:
    decl, default = declared(f), default_of(f)
    if width == "published" or decl.tiny is None:
        return default
    if width == "tiny":
        return decl.tiny
    return _between(decl.tiny, default)


def _between(tiny: Any, published: Any) -> Any:
    """Geometric mean of a tiny and a published width (ints, int tuples), else tiny."""
    if isinstance(tiny, bool) or not isinstance(published, type(tiny)):
        return tiny
    if isinstance(tiny, int) and tiny > 0 and published > 0:
        return max(1, round(math.sqrt(tiny * published)))
    if isinstance(tiny, tuple) and len(tiny) == len(published):
        return tuple(_between(t, p) for t, p in zip(tiny, published, strict=True))
    return tiny


def _multiple(decl: Declared, values: dict[str, Any]) -> int:
    ref = decl.multiple_of
    if ref is None:
        return 1
    return int(values[ref]) if isinstance(ref, str) else int(ref)


def _step(decl: Declared, value: int, values: dict[str, Any]) -> int:
    """The grid an int field lives on: its `multiple_of`, and a width's search step."""
    m = _multiple(decl, values)
    if isinstance(decl.search, Widths):
        base = decl.search.step if value >= 2 * decl.search.step else max(1, value // 4)
        return math.lcm(base, m)
    return m


def _constrained(value: Any, decl: Declared, values: dict[str, Any]) -> Any:
    """An int snapped to the nearest allowed multiple, at least the minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    m = _step(decl, value, values)
    snapped = max(1, round(value / m)) * m
    return max(snapped, -(-decl.minimum // m) * m)


def _dist(decl: Declared, value: Any, values: dict[str, Any], registry_names: Any
          ) -> Dist | None:
    search = decl.search
    if isinstance(search, Fixed):
        return None
    if isinstance(search, Choice):
        options = tuple(registry_names(search.registry)) if search.registry else search.options
        return Dist("categorical", choices=tuple(options))
    if isinstance(search, Ints):
        return Dist("int", search.low, search.high, search.step, search.log)
    if isinstance(search, Floats):
        return Dist("float", float(search.low), float(search.high), None, search.log)
    if isinstance(search, Around):
        return Dist("int", max(decl.minimum, value - search.delta), value + search.delta, 1)
    step = _step(decl, value, values)
    low = max(step, value // 2 // step * step, -(-decl.minimum // step) * step)
    high = max(low, 2 * value // step * step)
    return Dist("int", low, high, step)


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Coerce `value` (possibly a string from the command line) to a field's annotated type."""
    text = str(annotation)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if "None" in text:
            return None
        if value is None or not text.startswith("str"):  # "none" is a valid str (strategy.rc)
            raise ConfigError(f"{where}: None is not allowed")
    try:
        if text.startswith("bool"):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return bool(value)
        if text.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if text.startswith("float"):
            return float(value)
        if text.startswith("str"):
            return str(value)
        if text.startswith("tuple") or text.startswith("list"):
            if isinstance(value, str):
                value = json.loads(value if value.startswith("[") else f"[{value}]")
            return tuple(value)
    except (TypeError, ValueError, json.JSONDecodeError) as err:
        raise ConfigError(f"{where}: cannot read {value!r} as {text}") from err
    return value
