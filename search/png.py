"""A tiny RGB raster with a pure numpy + zlib PNG writer (matplotlib is not a dependency)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

Colour = tuple[int, int, int]


def palette(n: int) -> list[Colour]:
    """`n` distinguishable colours (evenly spaced hues)."""
    colours = []
    for i in range(n):
        h = i / max(n, 1) * 6.0
        x = int(255 * (1 - abs(h % 2 - 1)))
        sector = [(255, x, 0), (x, 255, 0), (0, 255, x), (0, x, 255), (x, 0, 255),
                  (255, 0, x)][int(h) % 6]
        colours.append(tuple(int(c * 0.8) for c in sector))
    return colours


class Canvas:
    """White RGB image with lines, dots and axes; saved as an 8-bit PNG."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255, dtype=np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def dot(self, x: float, y: float, colour: Colour, radius: int = 2) -> None:
        width, height = self.size
        xi, yi = int(round(x)), int(round(y))
        self.pixels[max(0, yi - radius):min(height, yi + radius + 1),
                    max(0, xi - radius):min(width, xi + radius + 1)] = colour

    def line(self, a: tuple[float, float], b: tuple[float, float], colour: Colour) -> None:
        """A 2-pixel-wide straight line from a to b."""
        steps = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
        xs = np.linspace(a[0], b[0], steps).round().astype(int)
        ys = np.linspace(a[1], b[1], steps).round().astype(int)
        width, height = self.size
        for dx, dy in ((0, 0), (1, 0), (0, 1)):
            x, y = np.clip(xs + dx, 0, width - 1), np.clip(ys + dy, 0, height - 1)
            self.pixels[y, x] = colour

    def axes(self, margin: int, colour: Colour = (60, 60, 60)) -> None:
        width, height = self.size
        self.pixels[height - margin, margin:width - margin] = colour
        self.pixels[margin:height - margin + 1, margin] = colour

    def png_bytes(self) -> bytes:
        """The image encoded as PNG (RGB, 8 bit, filter 0 on every row)."""
        height, width, _ = self.pixels.shape
        raw = np.concatenate([np.zeros((height, 1), np.uint8),
                              self.pixels.reshape(height, width * 3)], axis=1).tobytes()

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

    def save(self, path: Path) -> None:
        """Write the PNG atomically."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(self.png_bytes())
        os.replace(tmp, path)
