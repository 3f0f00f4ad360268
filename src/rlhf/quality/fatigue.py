"""Fatigue and drift: agreement with the consensus, and seconds per item, along a session.

An annotator who tires agrees less with the others (and often answers faster) after some number
of items. A CUSUM change point with a permutation test finds the most likely shift in the
agreement rate, Kendall's tau tests for a steady trend, and the same change-point test runs on
log seconds per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlhf.quality.diagnostics import Finding, Thresholds, p_text
from rlhf.quality.labels import MISSING, Codes, Floats
from rlhf.quality.trends import change_point, trend


@dataclass(frozen=True, kw_only=True)
class Fatigue(Finding):
    """value: agreement with the consensus after the change point minus before it."""

    change_at: int | None = None
    """Session position (0-based) where the change starts."""
    before: float | None = None
    after: float | None = None
    trend_tau: float | None = None
    trend_p_value: float | None = None
    seconds_before: float | None = None
    """Median seconds per item before the change point of the seconds sequence."""
    seconds_after: float | None = None
    seconds_change_at: int | None = None
    seconds_p_value: float | None = None


def _seconds_change(seconds: Floats, positions: Codes, limits: Thresholds) -> dict[str, Any]:
    timed = np.isfinite(seconds)
    values, where = seconds[timed], positions[timed]
    if values.size < 2 * limits.min_segment:
        return {}
    found = change_point(
        np.log1p(values),
        min_segment=limits.min_segment,
        permutations=limits.permutations,
        seed=limits.seed,
    )
    if found.index < 0:
        return {}
    return {
        "seconds_before": float(np.median(values[: found.index])),
        "seconds_after": float(np.median(values[found.index :])),
        "seconds_change_at": int(where[found.index]),
        "seconds_p_value": found.p_value,
    }


def fatigue(
    codes: Codes, consensus: Codes, seconds: Floats, positions: Codes, limits: Thresholds
) -> Fatigue:
    """Drift of agreement with the consensus (and of seconds per item) along the session.

    A CUSUM change point with a permutation test finds the most likely shift in the agreement
    rate; Kendall's tau tests for a steady trend. Flagged when the shift is significant.
    codes, consensus, seconds, positions: (n,) in session order -> Fatigue.
    """
    timing = _seconds_change(seconds, positions, limits)
    compared = consensus != MISSING
    agree = (codes[compared] == consensus[compared]).astype(np.float64)
    n = int(agree.size)
    if n < 2 * limits.min_segment:
        verdict = f"only {n} judgments with a consensus: too few to look for drift"
        return Fatigue(value=None, n=n, verdict=verdict, **timing)
    found = change_point(
        agree, min_segment=limits.min_segment, permutations=limits.permutations, seed=limits.seed
    )
    steady = trend(agree)
    change_at = int(positions[compared][found.index]) if found.index >= 0 else None
    flagged = n >= limits.min_items and found.p_value < limits.alpha
    verdict = _fatigue_verdict(found.before, found.after, change_at, found.p_value, flagged)
    if timing:
        verdict += (
            f"; seconds per item went from a median of {timing['seconds_before']:.1f} to "
            f"{timing['seconds_after']:.1f} at item {timing['seconds_change_at']} "
            f"({p_text(timing['seconds_p_value'])})"
        )
    return Fatigue(
        value=found.after - found.before, statistic=found.statistic, p_value=found.p_value,
        n=n, flagged=flagged, verdict=verdict, change_at=change_at, before=found.before,
        after=found.after, trend_tau=steady.tau, trend_p_value=steady.p_value, **timing,
    )  # fmt: skip


def _fatigue_verdict(
    before: float, after: float, change_at: int | None, p: float, flagged: bool
) -> str:
    if change_at is None or not flagged:
        return f"agreement with the consensus did not change significantly ({p_text(p)})"
    kind = "fatigue or drift" if after < before else "improved (a learning curve)"
    return (
        f"agreement with the consensus went from {before:.0%} to {after:.0%} "
        f"at item {change_at} ({p_text(p)}): {kind}"
    )
