"""Dependency-free figures for the demo: an RGB canvas, a 5x7 bitmap font and a PNG writer.

The demo must run where matplotlib is not installed, so this module draws scatter plots, line
plots, axes, ticks and labels with numpy alone and encodes the PNG with ``zlib`` + ``struct``
(PNG spec: 8-bit RGB, filter type 0 on every row). It is deliberately small: enough for
readable diagnostic figures, not a plotting library.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Optional, Sequence

import numpy as np

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GREY: Color = (150, 150, 150)
LIGHT: Color = (225, 225, 225)
#: colour cycle (colour-blind friendly: Okabe-Ito)
PALETTE: tuple[Color, ...] = (
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (120, 120, 120),
)

# 5x7 glyphs, one string of 7 rows x 5 columns per character ('#' = ink).
_GLYPHS: dict[str, str] = {
    " ": "....." "....." "....." "....." "....." "....." ".....",
    "0": ".###." "#...#" "#..##" "#.#.#" "##..#" "#...#" ".###.",
    "1": "..#.." ".##.." "..#.." "..#.." "..#.." "..#.." ".###.",
    "2": ".###." "#...#" "....#" "...#." "..#.." ".#..." "#####",
    "3": "####." "....#" "....#" ".###." "....#" "....#" "####.",
    "4": "...#." "..##." ".#.#." "#..#." "#####" "...#." "...#.",
    "5": "#####" "#...." "####." "....#" "....#" "#...#" ".###.",
    "6": "..##." ".#..." "#...." "####." "#...#" "#...#" ".###.",
    "7": "#####" "....#" "...#." "..#.." ".#..." ".#..." ".#...",
    "8": ".###." "#...#" "#...#" ".###." "#...#" "#...#" ".###.",
    "9": ".###." "#...#" "#...#" ".####" "....#" "...#." ".##..",
    "A": ".###." "#...#" "#...#" "#####" "#...#" "#...#" "#...#",
    "B": "####." "#...#" "#...#" "####." "#...#" "#...#" "####.",
    "C": ".###." "#...#" "#...." "#...." "#...." "#...#" ".###.",
    "D": "####." "#...#" "#...#" "#...#" "#...#" "#...#" "####.",
    "E": "#####" "#...." "#...." "####." "#...." "#...." "#####",
    "F": "#####" "#...." "#...." "####." "#...." "#...." "#....",
    "G": ".###." "#...#" "#...." "#.###" "#...#" "#...#" ".####",
    "H": "#...#" "#...#" "#...#" "#####" "#...#" "#...#" "#...#",
    "I": ".###." "..#.." "..#.." "..#.." "..#.." "..#.." ".###.",
    "J": "..###" "...#." "...#." "...#." "...#." "#..#." ".##..",
    "K": "#...#" "#..#." "#.#.." "##..." "#.#.." "#..#." "#...#",
    "L": "#...." "#...." "#...." "#...." "#...." "#...." "#####",
    "M": "#...#" "##.##" "#.#.#" "#.#.#" "#...#" "#...#" "#...#",
    "N": "#...#" "#...#" "##..#" "#.#.#" "#..##" "#...#" "#...#",
    "O": ".###." "#...#" "#...#" "#...#" "#...#" "#...#" ".###.",
    "P": "####." "#...#" "#...#" "####." "#...." "#...." "#....",
    "Q": ".###." "#...#" "#...#" "#...#" "#.#.#" "#..#." ".##.#",
    "R": "####." "#...#" "#...#" "####." "#.#.." "#..#." "#...#",
    "S": ".####" "#...." "#...." ".###." "....#" "....#" "####.",
    "T": "#####" "..#.." "..#.." "..#.." "..#.." "..#.." "..#..",
    "U": "#...#" "#...#" "#...#" "#...#" "#...#" "#...#" ".###.",
    "V": "#...#" "#...#" "#...#" "#...#" "#...#" ".#.#." "..#..",
    "W": "#...#" "#...#" "#...#" "#.#.#" "#.#.#" "#.#.#" ".#.#.",
    "X": "#...#" "#...#" ".#.#." "..#.." ".#.#." "#...#" "#...#",
    "Y": "#...#" "#...#" ".#.#." "..#.." "..#.." "..#.." "..#..",
    "Z": "#####" "....#" "...#." "..#.." ".#..." "#...." "#####",
    ".": "....." "....." "....." "....." "....." ".##.." ".##..",
    ",": "....." "....." "....." "....." ".##.." "..#.." ".#...",
    ":": "....." ".##.." ".##.." "....." ".##.." ".##.." ".....",
    "-": "....." "....." "....." "#####" "....." "....." ".....",
    "+": "....." "..#.." "..#.." "#####" "..#.." "..#.." ".....",
    "=": "....." "....." "#####" "....." "#####" "....." ".....",
    "/": "....#" "....#" "...#." "..#.." ".#..." "#...." "#....",
    "(": "...#." "..#.." ".#..." ".#..." ".#..." "..#.." "...#.",
    ")": ".#..." "..#.." "...#." "...#." "...#." "..#.." ".#...",
    "%": "##..#" "##..#" "...#." "..#.." ".#..." "#..##" "#..##",
    "_": "....." "....." "....." "....." "....." "....." "#####",
    "'": "..#.." "..#.." ".#..." "....." "....." "....." ".....",
    "*": "....." "#.#.#" ".###." "#####" ".###." "#.#.#" ".....",
    "<": "...#." "..#.." ".#..." "#...." ".#..." "..#.." "...#.",
    ">": ".#..." "..#.." "...#." "....#" "...#." "..#.." ".#...",
    "|": "..#.." "..#.." "..#.." "..#.." "..#.." "..#.." "..#..",
    "?": ".###." "#...#" "....#" "...#." "..#.." "....." "..#..",
}
_BITMAPS: dict[str, np.ndarray] = {
    ch: np.array([[c == "#" for c in rows[r * 5:(r + 1) * 5]] for r in range(7)], dtype=bool)
    for ch, rows in _GLYPHS.items()
}


def text_size(s: str, scale: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of ``s`` drawn at ``scale``."""
    return (6 * len(s) - 1) * scale if s else 0, 7 * scale


class Canvas:
    """An RGB image ``[H, W, 3]`` (uint8) with a few drawing primitives; (x, y) = (column, row)."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = int(width), int(height)
        self.pixels = np.empty((self.height, self.width, 3), dtype=np.float32)
        self.pixels[:] = background

    # -- primitives -----------------------------------------------------------------------------
    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color, fill: bool = True) -> None:
        """Axis-aligned rectangle from (x0, y0) to (x1, y1) inclusive."""
        a, b = int(round(min(x0, x1))), int(round(max(x0, x1)))
        c, d = int(round(min(y0, y1))), int(round(max(y0, y1)))
        a, c = max(a, 0), max(c, 0)
        b, d = min(b, self.width - 1), min(d, self.height - 1)
        if a > b or c > d:
            return
        if fill:
            self.pixels[c:d + 1, a:b + 1] = color
        else:
            self.pixels[c, a:b + 1] = color
            self.pixels[d, a:b + 1] = color
            self.pixels[c:d + 1, a] = color
            self.pixels[c:d + 1, b] = color

    def blend(self, xs: np.ndarray, ys: np.ndarray, color: Color, alpha: float) -> None:
        """Composite ``color`` at integer pixels (xs, ys); k hits give opacity 1 - (1 - alpha)^k."""
        xs = np.asarray(xs, dtype=np.int64)
        ys = np.asarray(ys, dtype=np.int64)
        keep = (xs >= 0) & (xs < self.width) & (ys >= 0) & (ys < self.height)
        if not keep.any():
            return
        idx = ys[keep] * self.width + xs[keep]
        hits = np.bincount(idx, minlength=self.width * self.height).reshape(self.height, self.width)
        mask = hits > 0
        opacity = 1.0 - (1.0 - alpha) ** hits[mask].astype(np.float32)
        px = self.pixels[mask]
        self.pixels[mask] = px * (1.0 - opacity[:, None]) + np.asarray(color, np.float32) * opacity[:, None]

    def dots(self, xs: np.ndarray, ys: np.ndarray, color: Color, radius: float = 1.5, alpha: float = 1.0) -> None:
        """Filled discs of ``radius`` pixels centred at (xs, ys)."""
        r = int(math.ceil(radius))
        offs = [(dx, dy) for dx in range(-r, r + 1) for dy in range(-r, r + 1) if dx * dx + dy * dy <= radius * radius + 0.25]
        cx = np.rint(np.asarray(xs, dtype=np.float64)).astype(np.int64)
        cy = np.rint(np.asarray(ys, dtype=np.float64)).astype(np.int64)
        # Every disc adds each of its pixels once, so overlapping discs darken like stacked transparencies.
        allx = np.concatenate([cx + dx for dx, _ in offs])
        ally = np.concatenate([cy + dy for _, dy in offs])
        self.blend(allx, ally, color, alpha)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1) -> None:
        """Straight segment, sampled at sub-pixel steps (no anti-aliasing)."""
        n = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 2
        t = np.linspace(0.0, 1.0, n)
        xs = x0 + (x1 - x0) * t
        ys = y0 + (y1 - y0) * t
        offsets = np.arange(width) - (width - 1) / 2.0
        px = np.concatenate([np.rint(xs + d) for d in offsets for _ in offsets])
        py = np.concatenate([np.rint(ys + d) for _ in offsets for d in offsets])
        pts = np.unique(np.stack([px, py], 1).astype(np.int64), axis=0)
        self.blend(pts[:, 0], pts[:, 1], color, 1.0)

    def polyline(self, xs: Sequence[float], ys: Sequence[float], color: Color, width: int = 2) -> None:
        for i in range(len(xs) - 1):
            if all(math.isfinite(v) for v in (xs[i], ys[i], xs[i + 1], ys[i + 1])):
                self.line(xs[i], ys[i], xs[i + 1], ys[i + 1], color, width)

    def text(self, x: float, y: float, s: str, color: Color = BLACK, scale: int = 1,
             anchor: str = "left", valign: str = "top") -> None:
        """Draw ``s`` (lower case is drawn as upper case); ``anchor`` left/center/right, ``valign`` top/middle."""
        w, h = text_size(s, scale)
        if anchor == "center":
            x -= w / 2
        elif anchor == "right":
            x -= w
        if valign == "middle":
            y -= h / 2
        x0, y0 = int(round(x)), int(round(y))
        for i, ch in enumerate(s):
            bm = _BITMAPS.get(ch.upper(), _BITMAPS["?"])
            if scale > 1:
                bm = np.kron(bm, np.ones((scale, scale), dtype=bool))
            ys, xs = np.nonzero(bm)
            self.blend(xs + x0 + i * 6 * scale, ys + y0, color, 1.0)

    def vtext(self, x: float, y: float, s: str, color: Color = BLACK, scale: int = 1) -> None:
        """Vertical text (rotated 90 degrees counter-clockwise), centred on (x, y)."""
        w, h = text_size(s, scale)
        tmp = Canvas(w + 2, h + 2, WHITE)
        tmp.text(1, 1, s, BLACK, scale)
        ink = tmp.pixels[:, :, 0] < 128
        ink = np.rot90(ink)  # counter-clockwise
        ys, xs = np.nonzero(ink)
        self.blend(xs + int(round(x - ink.shape[1] / 2)), ys + int(round(y - ink.shape[0] / 2)), color, 1.0)

    # -- output ---------------------------------------------------------------------------------
    def to_png_bytes(self) -> bytes:
        """Encode as an 8-bit RGB PNG."""
        img = np.clip(np.rint(self.pixels), 0, 255).astype(np.uint8)
        raw = np.concatenate([np.zeros((self.height, 1), np.uint8), img.reshape(self.height, -1)], axis=1)

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))

    def save(self, path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(self.to_png_bytes())


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick positions covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.0e}"
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return s


class Axes:
    """A plotting rectangle on a :class:`Canvas` with linear data -> pixel maps."""

    def __init__(self, canvas: Canvas, left: int, top: int, width: int, height: int,
                 xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.c = canvas
        self.left, self.top, self.w, self.h = left, top, width, height
        self.xlim, self.ylim = xlim, ylim

    def px(self, x: np.ndarray | float) -> np.ndarray:
        x0, x1 = self.xlim
        return self.left + (np.asarray(x, dtype=np.float64) - x0) / (x1 - x0) * (self.w - 1)

    def py(self, y: np.ndarray | float) -> np.ndarray:
        y0, y1 = self.ylim
        return self.top + (1.0 - (np.asarray(y, dtype=np.float64) - y0) / (y1 - y0)) * (self.h - 1)

    def frame(self, title: Optional[str] = None, xlabel: Optional[str] = None, ylabel: Optional[str] = None,
              ticks: bool = True, grid: bool = True) -> None:
        c = self.c
        if ticks:
            for v in _nice_ticks(*self.xlim):
                x = float(self.px(v))
                if grid:
                    c.line(x, self.top, x, self.top + self.h - 1, LIGHT)
                c.line(x, self.top + self.h - 1, x, self.top + self.h + 3, BLACK)
                c.text(x, self.top + self.h + 6, _tick_label(v), BLACK, anchor="center")
            for v in _nice_ticks(*self.ylim):
                y = float(self.py(v))
                if grid:
                    c.line(self.left, y, self.left + self.w - 1, y, LIGHT)
                c.line(self.left - 4, y, self.left, y, BLACK)
                c.text(self.left - 7, y, _tick_label(v), BLACK, anchor="right", valign="middle")
        c.rect(self.left, self.top, self.left + self.w - 1, self.top + self.h - 1, BLACK, fill=False)
        if title:
            c.text(self.left + self.w / 2, self.top - 14, title, BLACK, anchor="center")
        if xlabel:
            c.text(self.left + self.w / 2, self.top + self.h + 20, xlabel, BLACK, anchor="center")
        if ylabel:
            c.vtext(self.left - 40, self.top + self.h / 2, ylabel, BLACK)

    def scatter(self, x: np.ndarray, y: np.ndarray, color: Color, radius: float = 1.2, alpha: float = 0.5) -> None:
        px, py = self.px(x), self.py(y)
        inside = (px >= self.left) & (px <= self.left + self.w - 1) & (py >= self.top) & (py <= self.top + self.h - 1)
        self.c.dots(px[inside], py[inside], color, radius, alpha)

    def plot(self, x: Sequence[float], y: Sequence[float], color: Color, width: int = 2, marker: bool = True) -> None:
        px, py = self.px(np.asarray(x)), self.py(np.asarray(y))
        self.c.polyline(list(px), list(py), color, width)
        if marker:
            self.c.dots(px, py, color, 3.0, 1.0)

    def legend(self, items: Sequence[tuple[str, Color]], corner: str = "top-right") -> None:
        widths = [text_size(s)[0] for s, _ in items]
        bw, bh = max(widths) + 26, 12 * len(items) + 6
        x0 = self.left + self.w - bw - 6 if corner.endswith("right") else self.left + 6
        y0 = self.top + 6 if corner.startswith("top") else self.top + self.h - bh - 6
        self.c.rect(x0, y0, x0 + bw, y0 + bh, WHITE)
        self.c.rect(x0, y0, x0 + bw, y0 + bh, GREY, fill=False)
        for i, (label, color) in enumerate(items):
            yy = y0 + 5 + 12 * i
            self.c.rect(x0 + 5, yy + 1, x0 + 17, yy + 5, color)
            self.c.text(x0 + 22, yy, label, BLACK)
