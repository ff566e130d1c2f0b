"""Server-rendered SVG charts. Each chart is a picture with a title; pages pair it with a
table holding the same numbers. Colours tell mediums apart and carry no order."""

from __future__ import annotations

import colorsys
import itertools
from collections.abc import Sequence

from markupsafe import Markup, escape

from crm.models import Medium
from crm.models.types import alphabetical_key

# A categorical palette (colour-blind-friendly order). Mediums get colours by
# alphabetical name, so a colour never implies rank; past the palette, each further medium
# gets a hue of its own (medium_colours).
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#17becf", "#1f77b4", "#8c564b",
)
# "Origin not recorded": a plain grey, which no medium gets (every medium's colour has a hue).
NOT_RECORDED = "#a3a3a3"
_GOLDEN_ANGLE = 137.508


def medium_colours(mediums) -> dict[int, str]:
    """A distinct colour per medium id, assigned in alphabetical order of name: the
    palette's, then hues a golden angle apart (no text is drawn on them)."""
    ordered = sorted(mediums, key=Medium.sort_key)
    colours: dict[int, str] = {}
    taken: set[str] = set()
    hues = map(_hue, itertools.count())
    for i, m in enumerate(ordered):
        colour = PALETTE[i] if i < len(PALETTE) else next(hues)
        for _ in range(50):  # skip a rounding clash (thousands of mediums in, one may stay)
            if colour not in taken:
                break
            colour = next(hues)
        colours[m.id] = colour
        taken.add(colour)
    return colours


def _hue(n: int) -> str:
    """The n-th generated colour: saturated enough never to be grey, in five lightnesses
    so that neighbours differ."""
    red, green, blue = colorsys.hls_to_rgb((20 + n * _GOLDEN_ANGLE) % 360 / 360,
                                           (0.55, 0.42, 0.62, 0.48, 0.36)[n % 5], 0.6)
    return "#" + "".join(f"{round(c * 255):02x}" for c in (red, green, blue))


def _svg(width: int, height: int, title: str, body: str, desc: str = "",
         kind: str = "") -> Markup:
    """kind, a class for app.css: "wide" (drawn at its size, the page scrolls it sideways
    rather than shrink its text) or "columns" (months: scrolls below 30rem, newest in view)."""
    title_e = escape(title)
    desc_e = escape(desc) if desc else ""
    classes = f"chart {kind}" if kind else "chart"
    # Every interpolated text above was escaped; numbers and colours come from code.
    return Markup(  # noqa: S704
        f'<svg class="{classes}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{title_e}</title>" + (f"<desc>{desc_e}</desc>" if desc_e else "") + body + "</svg>"
    )


# Labels (13px) take about 7.5 units a character: one longer than its room is shortened
# with an ellipsis, and its whole text is the tooltip. Ticks (11px) take fewer, so the
# same count is safe for them.
LABEL_CHAR_UNITS = 7.5
# Room along a heatmap's slanted column label: its 90 units of height at 55°, less a margin.
SLANTED_LABEL_ROOM = 96


def _fitted(label: str, room: float) -> str:
    """A label's text element content: whole, or shortened to fit room units."""
    most = max(int(room / LABEL_CHAR_UNITS), 4)
    if len(label) <= most:
        return escape(label)
    return f"<title>{escape(label)}</title>{escape(label[:most - 1].rstrip())}…"


def bar_chart(items: Sequence[tuple[str, float, str]], *, title: str, unit: str = "",
              width: int = 340) -> Markup:
    """Horizontal bars: (label, value, colour) each, in the order given. Drawn 340 units
    wide, about what a phone's card holds (324 px at 390), so its text is read near its
    size there: at 440 it was shrunk to three quarters (labels 9.6 px, values 8 px)."""
    row, label_w, pad = 28, 134, 8  # labels of 16 characters whole ("They reached out")
    height = max(row * len(items) + pad * 2, 40)
    top = max((v for _, v, _ in items), default=0) or 1
    bar_space = width - label_w - 70
    parts = []
    for i, (label, value, colour) in enumerate(items):
        y = pad + i * row
        w = 0 if value <= 0 else max(2.0, bar_space * value / top)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row / 2 + 5}" text-anchor="end" class="label">'
            f"{_fitted(label, label_w - 12)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" rx="3" '
            f'fill="{colour}"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row / 2 + 5}" class="value">'
            f"{value:g}{escape(unit)}</text>"
        )
    return _svg(width, height, title, "".join(parts))


# About how much of a month chart (in its units, from the newest end) a 390 px phone shows
# before it is scrolled.
PHONE_FIRST_VIEW = 280


def stacked_columns(columns: Sequence[str], series: dict[int, Sequence[int]],
                    colours: dict[int, str], names: dict[int, str], *, title: str,
                    width: int = 560, height: int = 220) -> Markup:
    """Columns (e.g. months) with one stacked segment per medium. The scale is on the
    right, by the newest column, where a phone's scroll area opens (app.css)."""
    left, right, bottom, top_pad = 6, 34, 40, 10
    plot_h = height - bottom - top_pad
    n = max(len(columns), 1)
    slot = (width - left - right) / n
    totals = [sum(series[m][i] for m in series) for i in range(len(columns))]
    peak = max(totals, default=0) or 1
    axis_x = width - right
    parts = [
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{axis_x + 4}" y2="{top_pad + plot_h}" '
        f'class="axis"/>',
        f'<text x="{axis_x + 6}" y="{top_pad + 10}" class="value">{peak}</text>',
        f'<text x="{axis_x + 6}" y="{top_pad + plot_h}" class="value">0</text>',
    ]
    order = sorted(series, key=lambda m: (alphabetical_key(names.get(m, "")), m))
    labelled = [i for i in range(len(columns)) if n <= 12 or i % 2 == (n - 1) % 2]
    # A month ("2025-01") shows as 01, with its year beneath at the first label, at each new
    # year, and at the newest label unless a year is within the room a phone shows first.
    years: dict[int, str] = {}
    for i in labelled:
        if len(columns[i]) == 7 and columns[i][:4] not in years.values():
            years[i] = columns[i][:4]
    newest = labelled[-1] if labelled else None
    if years and newest is not None and (newest - max(years)) * slot >= PHONE_FIRST_VIEW:
        years[newest] = columns[newest][:4]
    for i, column in enumerate(columns):
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        y = top_pad + plot_h
        for medium_id in order:
            value = series[medium_id][i]
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{colours.get(medium_id, "#999")}"><title>{escape(column)}: '
                f"{escape(names.get(medium_id, '?'))} {value}</title></rect>"
            )
    for i in labelled:
        column, middle = columns[i], left + i * slot + slot / 2
        parts.append(
            f'<text x="{middle:.1f}" y="{height - 20}" text-anchor="middle" class="tick">'
            f"{escape(column[-2:] if len(column) == 7 else column)}</text>"
        )
        if i in years:
            parts.append(
                f'<text x="{middle:.1f}" y="{height - 6}" text-anchor="middle" '
                f'class="tick">{escape(years[i])}</text>'
            )
    return _svg(width, height, title, "".join(parts), kind="columns")


def heatmap(rows: Sequence[tuple[int, str]], cols: Sequence[tuple[int, str]],
            values: dict[tuple[int, int], int], *, title: str) -> Markup:
    """A matrix of counts (row → column), shaded by count."""
    cell, label_w, label_h = 34, 110, 90
    width = label_w + cell * len(cols) + 60  # room for the last slanted label
    height = label_h + cell * len(rows) + 6
    peak = max(values.values(), default=0) or 1
    parts = []
    for j, (_, name) in enumerate(cols):
        x = label_w + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x + 4:.1f},{label_h - 6}) rotate(-55)" '
            f'class="tick">{_fitted(name, SLANTED_LABEL_ROOM)}</text>'
        )
    for i, (row_id, row_name) in enumerate(rows):
        y = label_h + i * cell
        parts.append(
            f'<text x="{label_w - 6}" y="{y + cell / 2 + 4}" text-anchor="end" class="label">'
            f"{_fitted(row_name, label_w - 10)}</text>"
        )
        for j, (col_id, col_name) in enumerate(cols):
            x = label_w + j * cell
            if row_id == col_id:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                             f'class="diagonal"/>')
                continue
            value = values.get((row_id, col_id), 0)
            # Up to 0.7, where dark numbers still read at 4.5:1 (white ones would not).
            opacity = 0.08 + 0.62 * value / peak if value else 0.03
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="3" '
                f'fill="#2d5bd7" fill-opacity="{opacity:.2f}"><title>Began on '
                f"{escape(row_name)}, later {escape(col_name)}: {value}</title></rect>"
            )
            if value:
                parts.append(
                    f'<text x="{x + (cell - 2) / 2}" y="{y + cell / 2 + 3}" text-anchor="middle" '
                    f'class="cell" fill="#1d2330">{value}</text>'
                )
    return _svg(width, height, title, "".join(parts), kind="wide")


def network(nodes: dict[int, str], edges: Sequence[tuple[int, int]],
            node_colours: dict[int, str], *, title: str, width: int = 640) -> Markup:
    """Contacts as nodes, "introduced by" as arrows, drawn as a family tree.

    Each contact has at most one introducer, so the introductions form a forest: the
    people who introduced others sit on the top row and whom they introduced below,
    level by level. The layout is linear in the number of nodes and deterministic.
    """
    positions, width, height = _tree_layout(nodes, edges, width)
    parts = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="16" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#8a93a3"/></marker></defs>'
    ]
    for child, parent in edges:
        if child in positions and parent in positions:
            (x1, y1), (x2, y2) = positions[parent], positions[child]
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="edge" '
                f'marker-end="url(#arrow)"><title>{escape(nodes[parent])} introduced '
                f"{escape(nodes[child])}</title></line>"
            )
    for node_id, (x, y) in positions.items():
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" '
            f'fill="{node_colours.get(node_id, NOT_RECORDED)}" class="node">'
            f"<title>{escape(nodes[node_id])}</title></circle>"
            f'<text x="{x:.1f}" y="{y + 22:.1f}" text-anchor="middle" class="node-label">'
            f"{escape(_short(nodes[node_id]))}</text>"
        )
    return _svg(width, height, title, "".join(parts), kind="wide")


def _tree_layout(nodes, edges, width, row_height: int = 70, slot: int = 96):
    """Place each tree's leaves left to right and every parent above its children."""
    children: dict[int, list[int]] = {n: [] for n in nodes}
    has_parent = set()
    for child, parent in edges:
        if child in nodes and parent in nodes and child != parent:
            children[parent].append(child)
            has_parent.add(child)
    roots = sorted(n for n in nodes if n not in has_parent)
    order: dict[int, float] = {}
    depth: dict[int, int] = {}
    next_leaf = [0]

    def place(node: int, level: int, seen: frozenset) -> float:
        depth[node] = level
        kids = [k for k in sorted(children[node]) if k not in seen]
        if not kids:
            order[node] = next_leaf[0]
            next_leaf[0] += 1
            return order[node]
        spots = [place(k, level + 1, seen | {node}) for k in kids]
        order[node] = (spots[0] + spots[-1]) / 2
        return order[node]

    for root in roots:
        place(root, 0, frozenset())
    leaves = max(next_leaf[0], 1)
    levels = max(depth.values(), default=0) + 1
    width = max(width, leaves * slot)
    step = width / leaves
    positions = {
        n: (step * (order[n] + 0.5), 30 + depth[n] * row_height) for n in order
    }
    return positions, width, 30 + (levels - 1) * row_height + 40


def _short(name: str, limit: int = 16) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
