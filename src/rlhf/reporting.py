"""What rlhf's self-contained HTML reports are made of: the page, escaped tables, numbers, and
matplotlib charts as inline PNG.

`rlhf quality report` (`rlhf.quality.report`) and `rlhf report` (`rlhf.eval.report`) build their
pages from these pieces. Every cell and title is escaped here, so callers pass plain text. Charts
are drawn with matplotlib's Agg backend without pyplot (no global state, safe in threads and tests)
and embedded as `data:` URIs, so a report is one file that loads nothing from the network.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "STYLE",
    "figure",
    "image",
    "interval",
    "number",
    "page",
    "percent",
    "png_uri",
    "short",
    "table",
]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { color: #b00020; font-weight: 600; }
.note { color: #555; font-size: 0.9em; }
img { max-width: 100%; }
"""


def number(value: float | None, digits: int = 3) -> str:
    """`value` with `digits` decimals; "n/a" for None, nan and infinities."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    """`value` (a share in [0, 1]) as a whole percentage; "n/a" for None and nan."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.0%}"


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    """`[low, high]`, or "n/a" when either end is missing."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def short(name: str, limit: int = 14) -> str:
    """`name` cut to `limit` characters (with an ellipsis), for chart labels."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    """An HTML table; every cell is escaped here, so callers pass plain text. Columns whose
    index is in `numeric` are right-aligned."""
    right = set(numeric)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = (
            f'<td class="num">{escape(c)}</td>' if i in right else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def image(uri: str, alt: str) -> str:
    """An `<img>` of a `data:` URI from `png_uri`."""
    return f'<img alt="{escape(alt)}" src="{escape(uri)}">'


def page(title: str, body: str, *, style: str = "") -> str:
    """The whole HTML document: `body` (already HTML) under `title`, `STYLE` plus `style`."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{STYLE}{style}</style></head><body>{body}</body></html>\n"
    )


def figure(width: float, height: float) -> Figure:
    """An empty matplotlib figure on an Agg canvas, `width` x `height` inches at 100 dpi."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(drawn)
    return drawn


def png_uri(drawn: Figure) -> str:
    """The figure as a `data:image/png;base64,...` URI."""
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
