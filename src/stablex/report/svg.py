"""Inline SVG figures, drawn in Python so the report needs no plotting library and no network.

Each function returns one `<svg>` string with a `<title>` (what a screen reader or a hover
says). Every piece of text passes through `esc`: labels can come from the corpus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from stablex.report.colors import STOPS, diverging

INK, MUTED, GRID, ACCENT = "#222", "#666", "#ddd", "#b2182b"
# Markers told apart by shape as well as colour (grey prints, colour blindness).
SERIES = (
    ("#2166ac", "circle"),
    ("#b2182b", "square"),
    ("#1b7837", "diamond"),
    ("#555", "triangle"),
    ("#762a83", "circle"),
    ("#e08214", "square"),
)


def esc(s: object) -> str:
    return escape(str(s), quote=True)


def num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


@dataclass
class Scale:
    """Linear map from data [lo, hi] to pixels [a, b] (b < a for a y axis)."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, v: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.a + (v - self.lo) / span * (self.b - self.a)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    out, v = [], start
    while v <= hi + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


def padded(lo: float, hi: float, frac: float = 0.06) -> tuple[float, float]:
    if hi <= lo:
        d = abs(lo) * 0.05 or 0.05
        return lo - d, hi + d
    d = (hi - lo) * frac
    return lo - d, hi + d


def _fmt_tick(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.0e}"


def _open(w: int, h: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fig" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        f'role="img" font-family="sans-serif" font-size="11"><title>{esc(title)}</title>'
    ]


def _x_axis(x: Scale, y0: float, ticks: Sequence[float], label: str, top: float) -> list[str]:
    out = [f'<line x1="{x.a}" x2="{x.b}" y1="{y0}" y2="{y0}" stroke="{INK}"/>']
    for t in ticks:
        px = x(t)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{y0}" stroke="{GRID}"/>')
        out.append(f'<text x="{px:.1f}" y="{y0 + 14}" text-anchor="middle" fill="{MUTED}">{esc(_fmt_tick(t))}</text>')
    out.append(f'<text x="{(x.a + x.b) / 2:.1f}" y="{y0 + 30}" text-anchor="middle" fill="{INK}">{esc(label)}</text>')
    return out


def _y_axis(y: Scale, x0: float, ticks: Sequence[float], label: str, right: float) -> list[str]:
    out = [f'<line x1="{x0}" x2="{x0}" y1="{y.a}" y2="{y.b}" stroke="{INK}"/>']
    for t in ticks:
        py = y(t)
        out.append(f'<line x1="{x0}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{x0 - 5}" y="{py + 4:.1f}" text-anchor="end" fill="{MUTED}">{esc(_fmt_tick(t))}</text>')
    mid = (y.a + y.b) / 2
    out.append(
        f'<text transform="translate(12 {mid:.1f}) rotate(-90)" text-anchor="middle" fill="{INK}">{esc(label)}</text>'
    )
    return out


def marker(shape: str, x: float, y: float, colour: str, r: float = 4.5, title: str | None = None) -> str:
    tip = f"<title>{esc(title)}</title>" if title else ""
    if shape == "square":
        body = f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}"'
    elif shape == "diamond":
        body = (
            f'<polygon points="{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y:.1f} '
            f'{x:.1f},{y + r + 1:.1f} {x - r - 1:.1f},{y:.1f}"'
        )
    elif shape == "triangle":
        body = f'<polygon points="{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y + r:.1f} {x - r - 1:.1f},{y + r:.1f}"'
    else:
        body = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}"'
    return f'{body} fill="{colour}" fill-opacity="0.85" stroke="#fff" stroke-width="0.8">{tip}</{body.split()[0][1:]}>'


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Window:
    """An equivalence window: the n seeds of the narrowest accuracy range."""

    label: str
    low: float
    high: float
    equivalent: bool


def strip_plot(
    points: dict[str, float],
    windows: Sequence[Window],
    references: Sequence[tuple[str, float]] = (),
    xlabel: str = "test accuracy",
    width: int = 640,
) -> str:
    """One dot per seed on an accuracy axis, and under it a bar per equivalence window."""
    vals = list(points.values()) + [w.low for w in windows] + [w.high for w in windows] + [v for _, v in references]
    lo, hi = padded(min(vals), max(vals), 0.1)
    left, right, top = 110, width - 20, 20
    rows = len(windows)
    strip_h = 60
    h = top + strip_h + rows * 18 + 50
    y0 = top + strip_h + rows * 18 + 6
    x = Scale(lo, hi, left, right)
    out = _open(width, h, f"{xlabel} of each seed, with the study's ε windows (replication)")
    out += _x_axis(x, y0, nice_ticks(lo, hi), xlabel, top)
    for name, v in references:
        px = x(v)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{y0}" stroke="{MUTED}" stroke-dasharray="5 3"/>')
        out.append(f'<text x="{px + 3:.1f}" y="{top + 8}" fill="{MUTED}">{esc(name)}</text>')
    out.append(f'<text x="{left - 8}" y="{top + strip_h / 2 + 4}" text-anchor="end" fill="{INK}">seeds</text>')
    for i, (seed, v) in enumerate(sorted(points.items(), key=lambda kv: kv[1])):
        jitter = ((i * 7919) % 11 - 5) / 5 * (strip_h / 2 - 8)
        out.append(marker("circle", x(v), top + strip_h / 2 + jitter, SERIES[0][0], 4, f"seed {seed}: {v:.4f}"))
    for j, w in enumerate(windows):
        py = top + strip_h + 9 + j * 18
        style = (
            f'stroke="{INK}" stroke-width="5"'
            if w.equivalent
            else f'stroke="{MUTED}" stroke-width="5" stroke-dasharray="3 2"'
        )
        out.append(f'<text x="{left - 8}" y="{py + 4}" text-anchor="end" fill="{INK}">{esc(w.label)}</text>')
        out.append(
            f'<line x1="{x(w.low):.1f}" x2="{max(x(w.high), x(w.low) + 2):.1f}" y1="{py}" y2="{py}" {style}>'
            f"<title>{esc(w.label)}: [{w.low:.4f}, {w.high:.4f}]"
            f"{' equivalent' if w.equivalent else ' not equivalent'}</title></line>"
        )
    out.append("</svg>")
    return "".join(out)


def histogram(
    values: Sequence[float],
    xlabel: str,
    centre: tuple[float, float | None, float | None] | None = None,
    bins: int = 20,
    width: int = 300,
    height: int = 170,
    log10: bool = False,
    domain: tuple[float, float] | None = None,
) -> str:
    """Histogram of per-text values; `centre` = (median, lo, hi) drawn as a line over a band."""
    vals = [v for v in values if v is not None and math.isfinite(v) and (not log10 or v > 0)]
    if log10:
        vals = [math.log10(v) for v in vals]
        if centre:
            centre = tuple(math.log10(c) if c and c > 0 else None for c in centre)  # type: ignore[assignment]
    label = f"log10 {xlabel}" if log10 else xlabel
    out = _open(width, height, f"distribution over texts of {label}")
    if not vals:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}">no defined value</text></svg>'
        )
        return "".join(out)
    lo, hi = domain if domain else (min(vals), max(vals))
    if hi <= lo:
        lo, hi = padded(lo, hi)
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, max(0, int((v - lo) / step)))] += 1
    left, right, top, y0 = 36, width - 10, 10, height - 36
    x = Scale(lo, hi, left, right)
    y = Scale(0, max(counts), y0, top)
    out += _y_axis(y, left, nice_ticks(0, max(counts), 3), "texts", right)
    if centre and centre[1] is not None and centre[2] is not None:
        out.append(
            f'<rect x="{x(centre[1]):.1f}" y="{top}" width="{max(1.5, x(centre[2]) - x(centre[1])):.1f}" '
            f'height="{y0 - top}" fill="{ACCENT}" fill-opacity="0.15"/>'
        )
    for i, c in enumerate(counts):
        if c:
            out.append(
                f'<rect x="{x(lo + i * step) + 0.5:.1f}" y="{y(c):.1f}" '
                f'width="{max(0.5, x(lo + step) - x(lo) - 1):.1f}" '
                f'height="{y0 - y(c):.1f}" fill="#8c8c8c"><title>{c} texts in [{lo + i * step:.3g}, '
                f"{lo + (i + 1) * step:.3g})</title></rect>"
            )
    if centre and centre[0] is not None:
        out.append(
            f'<line x1="{x(centre[0]):.1f}" x2="{x(centre[0]):.1f}" y1="{top}" y2="{y0}" stroke="{ACCENT}" '
            f'stroke-width="2"/>'
        )
    out += _x_axis(x, y0, nice_ticks(lo, hi, 4), label, y0)
    out.append("</svg>")
    return "".join(out)


@dataclass
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False
    lo: Sequence[float | None] | None = None  # optional band
    hi: Sequence[float | None] | None = None


def line_chart(
    series: Sequence[Series],
    xlabel: str,
    ylabel: str,
    hline: tuple[str, float] | None = None,
    vline: tuple[str, float] | None = None,
    width: int = 460,
    height: int = 240,
    ydomain: tuple[float, float] | None = None,
    log_x: bool = False,
    categorical_x: Sequence[str] = (),
) -> str:
    """Lines with markers (shape + colour per series), an optional reference line and legend."""
    tx = (lambda v: math.log2(v)) if log_x else (lambda v: v)
    xs = [tx(v) for s in series for v in s.xs]
    ys = [v for s in series for v in list(s.ys) + list(s.lo or []) + list(s.hi or []) if v is not None]
    if hline:
        ys.append(hline[1])
    if not xs or not ys:
        return _open(width, 40, "no data")[0] + f'<text x="10" y="20" fill="{MUTED}">no data</text></svg>'
    xlo, xhi = padded(min(xs), max(xs), 0.04)
    ylo, yhi = ydomain or padded(min(ys), max(ys))
    legend_w = 40 + 6.2 * max(len(s.name) for s in series)
    width = int(max(width, 340 + legend_w))
    left, right, top, y0 = 48, width - legend_w, 12, height - 40
    x = Scale(xlo, xhi, left, right)
    y = Scale(ylo, yhi, y0, top)
    out = _open(width, height, f"{ylabel} against {xlabel}")
    out += _y_axis(y, left, nice_ticks(ylo, yhi, 4), ylabel, right)
    if categorical_x:
        out.append(f'<line x1="{left}" x2="{right}" y1="{y0}" y2="{y0}" stroke="{INK}"/>')
        for v, name in zip(series[0].xs, categorical_x):
            out.append(f'<text x="{x(tx(v)):.1f}" y="{y0 + 14}" text-anchor="middle" fill="{MUTED}">{esc(name)}</text>')
        out.append(f'<text x="{(left + right) / 2}" y="{y0 + 30}" text-anchor="middle">{esc(xlabel)}</text>')
    else:
        distinct = sorted({v for s in series for v in s.xs})
        integral = all(float(v).is_integer() for v in distinct) and len(distinct) <= 12
        if log_x and len(distinct) > 8:
            distinct = [v for v in distinct if float(v).is_integer() and int(v) & (int(v) - 1) == 0]
        ticks = distinct if log_x or integral else nice_ticks(xlo, xhi, 5)
        out.append(f'<line x1="{left}" x2="{right}" y1="{y0}" y2="{y0}" stroke="{INK}"/>')
        for t in ticks:
            out.append(
                f'<text x="{x(tx(t)):.1f}" y="{y0 + 14}" text-anchor="middle" fill="{MUTED}">{esc(_fmt_tick(t))}</text>'
            )
        out.append(f'<text x="{(left + right) / 2}" y="{y0 + 30}" text-anchor="middle">{esc(xlabel)}</text>')
    if hline:
        py = y(hline[1])
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" stroke="{MUTED}" stroke-dasharray="5 3"/>'
            f'<text x="{right - 2}" y="{py - 4:.1f}" text-anchor="end" fill="{MUTED}">{esc(hline[0])}</text>'
        )
    if vline:
        px = x(tx(vline[1]))
        out.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{y0}" stroke="{MUTED}" stroke-dasharray="2 2"/>'
            f'<text x="{px + 3:.1f}" y="{top + 10}" fill="{MUTED}">{esc(vline[0])}</text>'
        )
    for i, s in enumerate(series):
        colour, shape = SERIES[i % len(SERIES)]
        if s.lo is not None and s.hi is not None:
            for xv, a, b in zip(s.xs, s.lo, s.hi):
                if a is not None and b is not None:
                    out.append(
                        f'<line x1="{x(tx(xv)):.1f}" x2="{x(tx(xv)):.1f}" y1="{y(a):.1f}" y2="{y(b):.1f}" '
                        f'stroke="{colour}" stroke-opacity="0.6" stroke-width="2"/>'
                    )
        pts = [(x(tx(a)), y(b)) for a, b in zip(s.xs, s.ys) if b is not None]
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{'M' if k == 0 else 'L'}{px:.1f},{py:.1f}" for k, (px, py) in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>')
        for (px, py), xv, yv in zip(
            pts, [a for a, b in zip(s.xs, s.ys) if b is not None], [b for b in s.ys if b is not None]
        ):
            out.append(marker(shape, px, py, colour, 3.5, f"{s.name}: {_fmt_tick(xv)} -> {yv:.3f}"))
        ly = top + 8 + i * 18
        out.append(marker(shape, right + 16, ly, colour, 4))
        out.append(f'<line x1="{right + 6}" x2="{right + 26}" y1="{ly}" y2="{ly}" stroke="{colour}"{dash}/>')
        out.append(f'<text x="{right + 32}" y="{ly + 4}">{esc(s.name)}</text>')
    out.append("</svg>")
    return "".join(out)


@dataclass
class Point:
    """A model on the trade-off plane: x and y with their intervals (None: no interval)."""

    label: str
    x: float
    y: float
    x_lo: float | None = None
    x_hi: float | None = None
    y_lo: float | None = None
    y_hi: float | None = None


def scatter_intervals(
    points: Sequence[Point],
    xlabel: str,
    ylabel: str,
    width: int = 560,
    height: int = 320,
    xdomain: tuple[float, float] | None = None,
    ydomain: tuple[float, float] | None = None,
    vlines: Sequence[Point] = (),
) -> str:
    """Points with horizontal and vertical interval bars, labelled beside the marker; `vlines` are
    models known on x only (a dashed line over a shaded x interval; their y is ignored)."""
    xs = [v for p in [*points, *vlines] for v in (p.x, p.x_lo, p.x_hi) if v is not None]
    ys = [v for p in points for v in (p.y, p.y_lo, p.y_hi) if v is not None]
    xlo, xhi = xdomain or padded(min(xs), max(xs), 0.12)
    ylo, yhi = ydomain or padded(min(ys), max(ys), 0.12)
    left, right, top, y0 = 52, width - 16, 12, height - 40
    x = Scale(xlo, xhi, left, right)
    y = Scale(ylo, yhi, y0, top)
    out = _open(width, height, f"{ylabel} against {xlabel}")
    out += _y_axis(y, left, nice_ticks(ylo, yhi, 5), ylabel, right)
    out += _x_axis(x, y0, nice_ticks(xlo, xhi, 5), xlabel, top)
    for v in vlines:
        if v.x_lo is not None and v.x_hi is not None:
            out.append(
                f'<rect x="{x(v.x_lo):.1f}" y="{top}" width="{x(v.x_hi) - x(v.x_lo):.1f}" height="{y0 - top}" '
                f'fill="{MUTED}" fill-opacity="0.12"/>'
            )
        out.append(
            f'<line x1="{x(v.x):.1f}" x2="{x(v.x):.1f}" y1="{top}" y2="{y0}" stroke="{MUTED}" '
            f'stroke-dasharray="6 3" stroke-width="1.5"><title>{esc(v.label)}: {xlabel} {v.x:.3f}</title></line>'
        )
        out.append(f'<text x="{x(v.x) + 4:.1f}" y="{y0 - 6}" fill="{MUTED}">{esc(v.label)}</text>')
    for i, p in enumerate(points):
        colour, shape = SERIES[i % len(SERIES)]
        px, py = x(p.x), y(p.y)
        if p.x_lo is not None and p.x_hi is not None:
            out.append(
                f'<line x1="{x(p.x_lo):.1f}" x2="{x(p.x_hi):.1f}" y1="{py:.1f}" y2="{py:.1f}" stroke="{colour}" '
                f'stroke-width="1.5"/>'
            )
        if p.y_lo is not None and p.y_hi is not None:
            out.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(p.y_lo):.1f}" y2="{y(p.y_hi):.1f}" stroke="{colour}" '
                f'stroke-width="1.5"/>'
            )
        out.append(marker(shape, px, py, colour, 5.5, f"{p.label}: {xlabel} {p.x:.3f}, {ylabel} {p.y:.3f}"))
        anchor = "end" if px > (left + right) / 2 else "start"
        dx = -9 if anchor == "end" else 9
        out.append(
            f'<text x="{px + dx:.1f}" y="{py - 8:.1f}" text-anchor="{anchor}" fill="{INK}">{esc(p.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def colour_legend(scale: float, negative: str, positive: str, width: int = 360, unit: str = "relevance") -> str:
    """The diverging bar with ticks at -scale, 0, +scale and which class each side points to."""
    left, right, top, h = 10, width - 10, 18, 14
    n = 48
    step = (right - left) / n
    out = _open(width, 64, f"colour legend: {unit} from -{scale:g} to +{scale:g}")
    for i in range(n):
        v = -scale + (i + 0.5) / n * 2 * scale
        out.append(
            f'<rect x="{left + i * step:.1f}" y="{top}" width="{step + 0.5:.1f}" height="{h}" '
            f'fill="{diverging(v, scale)}"/>'
        )
    out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{h}" fill="none" stroke="{MUTED}"/>')
    for v, anchor, px in ((-scale, "start", left), (0.0, "middle", (left + right) / 2), (scale, "end", right)):
        out.append(
            f'<text x="{px:.1f}" y="{top - 5}" text-anchor="{anchor}" '
            f'fill="{INK}">{esc(f"{v:+.3g}" if v else "0")}</text>'
        )
    out.append(f'<text x="{left}" y="{top + h + 14}" fill="{INK}">◀ {esc(negative)}</text>')
    out.append(f'<text x="{right}" y="{top + h + 14}" text-anchor="end" fill="{INK}">{esc(positive)} ▶</text>')
    out.append("</svg>")
    return "".join(out)


__all__ = [
    "STOPS",
    "Point",
    "Scale",
    "Series",
    "Window",
    "colour_legend",
    "esc",
    "histogram",
    "line_chart",
    "nice_ticks",
    "num",
    "scatter_intervals",
    "strip_plot",
]
