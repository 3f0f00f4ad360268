"""The charts of `rlhf report`: training curves, reward against KL, win rates, phase timings.

Each function takes plain data (metric rows, numbers) and returns a `data:image/png` URI, or None
when there is nothing to draw. Figures come from `rlhf.reporting.figure` (Agg, no pyplot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TypeGuard

from rlhf import reporting
from rlhf.eval.curves import reward_kl_curve

__all__ = ["MAX_LINES", "MAX_PANELS", "PANELS", "Panel", "metric_panels", "panel_columns",
           "reward_kl_chart", "series", "timings_chart", "win_rate_chart"]  # fmt: skip

MAX_PANELS = 6
"""Small multiples drawn per training run at most."""
MAX_LINES = 4
"""Lines drawn per panel at most (the columns first logged)."""
MARKERS_BELOW = 30
"""Series shorter than this get a marker on every point (so one point still shows)."""


@dataclass(frozen=True)
class Panel:
    """One small multiple: its title and the metric columns it claims (shell-style patterns)."""

    title: str
    patterns: tuple[str, ...]


PANELS = (
    Panel("Loss", ("train/loss", "loss", "policy/loss", "value/loss", "loss/*", "train/*loss*")),
    Panel("Reward", ("reward/score", "gold/score", "reward/shaped", "reward", "gold",
                     "train/reward*", "reward/mean")),
    Panel("KL from the reference", ("kl", "policy/approx_kl", "train/kl")),
    Panel("Evaluation loss", ("eval/*loss*",)),
    Panel("Evaluation", ("eval/*",)),
    Panel("Accuracy", ("*accuracy*",)),
    Panel("Response length", ("response/length",)),
)  # fmt: skip
"""The panels of a run, in the order drawn; each column goes to the first panel that claims it."""


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def series(rows: Sequence[Mapping[str, Any]], column: str) -> tuple[list[int], list[float]]:
    """The steps and values of the rows where `column` is a finite number."""
    kept = [row for row in rows if _number(row.get(column))]
    return [int(row["step"]) for row in kept], [float(row[column]) for row in kept]


def panel_columns(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """The panels to draw and each one's columns (in order of first appearance), at most
    `MAX_PANELS` panels of `MAX_LINES` columns; only columns with a finite number count."""
    columns = list(dict.fromkeys(k for row in rows for k, v in row.items() if _number(v)))
    columns = [c for c in columns if c != "step"]
    claimed: set[str] = set()
    panels = []
    for panel in PANELS:
        mine = [c for c in columns if c not in claimed and _claims(panel, c)]
        claimed.update(mine)
        if mine:
            panels.append((panel.title, mine[:MAX_LINES]))
    return panels[:MAX_PANELS]


def _claims(panel: Panel, column: str) -> bool:
    return any(fnmatchcase(column, pattern) for pattern in panel.patterns)


def metric_panels(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Small multiples of a run's main curves against the step (see `PANELS`)."""
    panels = panel_columns(rows)
    if not panels:
        return None
    width = min(3, len(panels))
    height = math.ceil(len(panels) / width)
    figure = reporting.figure(3.6 * width, 2.8 * height)
    grid = figure.subplots(height, width, squeeze=False)
    for axes, (title, columns) in zip(grid.flat, panels, strict=False):
        for column in columns:
            steps, values = series(rows, column)
            marker = "o" if len(steps) < MARKERS_BELOW else None
            axes.plot(steps, values, label=column, marker=marker, markersize=3, linewidth=1.2)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=8)
        axes.legend(fontsize=7)
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    return reporting.png_uri(figure)


def reward_kl_chart(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Proxy and gold reward against sqrt(KL) (Gao et al. 2022), each on its own axis; None
    when the run logged no KL with a reward."""
    curve = reward_kl_curve(rows)
    if not curve.steps or curve.proxy_column is None:
        return None
    x = [math.sqrt(max(kl, 0.0)) for kl in curve.kl]
    marker = "o" if len(x) < MARKERS_BELOW else None
    figure = reporting.figure(6.0, 3.6)
    axes = figure.add_subplot()
    lines = axes.plot(x, curve.proxy, color="C0", marker=marker, markersize=3,
                      label=f"proxy ({curve.proxy_column})")  # fmt: skip
    axes.set_ylabel("proxy reward", color="C0")
    if curve.gold is not None:
        gold_axes = axes.twinx()
        lines += gold_axes.plot(x, curve.gold, color="C1", marker=marker, markersize=3,
                                label=f"gold ({curve.gold_column})")  # fmt: skip
        gold_axes.set_ylabel("gold reward", color="C1")
    axes.set_xlabel("sqrt(KL from the reference), sqrt(nats)")
    axes.set_title("Reward against KL (over-optimization: Gao et al. 2022)", fontsize=10)
    axes.legend(lines, [str(line.get_label()) for line in lines], fontsize=8, loc="best")
    return reporting.png_uri(figure)


def win_rate_chart(
    names: Sequence[str], rates: Sequence[float | None], intervals: Sequence[tuple[Any, Any]]
) -> str:
    """A forest plot: each eval's win rate with its interval, against the 50% of a tie."""
    figure = reporting.figure(7.0, 1.2 + 0.45 * len(names))
    axes = figure.add_subplot()
    for y, (rate, (low, high)) in enumerate(zip(rates, intervals, strict=True)):
        if _number(low) and _number(high):
            axes.plot([low, high], [y, y], color="C0", linewidth=2)
        if _number(rate):
            axes.plot([rate], [y], "o", color="C0")
    axes.axvline(0.5, color="black", linewidth=0.8, linestyle="--")
    axes.set_xlim(0, 1)
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_yticks(range(len(names)), [reporting.short(n, 30) for n in names], fontsize=8)
    axes.set_xlabel("win rate of the policy against its baseline (ties count half)")
    return reporting.png_uri(figure)


def timings_chart(timings: Mapping[str, float]) -> str | None:
    """Horizontal bars of seconds per phase; None when no phase has a number."""
    phases = [(name, float(seconds)) for name, seconds in timings.items() if _number(seconds)]
    if not phases:
        return None
    figure = reporting.figure(7.0, 1.0 + 0.35 * len(phases))
    axes = figure.add_subplot()
    y = range(len(phases))
    axes.barh(y, [s for _, s in phases], color="C0")
    axes.set_yticks(y, [reporting.short(name, 30) for name, _ in phases], fontsize=8)
    axes.invert_yaxis()
    for row, (_, seconds) in zip(y, phases, strict=True):
        axes.annotate(f" {seconds:.3g} s", (seconds, row), va="center", fontsize=8)
    axes.set_xlabel("seconds")
    axes.margins(x=0.15)
    return reporting.png_uri(figure)
