"""The report's one colour scale: diverging, centred on zero, readable in grey.

ColorBrewer RdBu (11 classes): lightness falls monotonically with |value| on both sides, so a
grey print still shows magnitude; the sign, which grey cannot show, is also carried by a
dotted underline on negative words (see page.py's CSS). The same stops go to the browser so
that Python's legend and the viewer's heatmaps agree.
"""

from __future__ import annotations

# From strongly negative (dark blue) through white to strongly positive (dark red).
STOPS: tuple[str, ...] = (
    "#053061",
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
    "#67001f",
)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def diverging(value: float, scale: float) -> str:
    """Colour of `value` on a scale symmetric around 0 reaching its ends at +-`scale`."""
    t = 0.0 if not scale or value != value else max(-1.0, min(1.0, value / scale))
    x = (t + 1) / 2 * (len(STOPS) - 1)
    i = min(int(x), len(STOPS) - 2)
    f = x - i
    a, b = _rgb(STOPS[i]), _rgb(STOPS[i + 1])
    r, g, bl = (round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def ink(background: str) -> str:
    """Black or white text, whichever reads on `background` (relative luminance)."""
    r, g, b = (c / 255 for c in _rgb(background))
    return "#fff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "#111"


def grey(hex_colour: str) -> float:
    """Luminance in [0, 1]: what a greyscale print shows (used by the tests)."""
    r, g, b = (c / 255 for c in _rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
