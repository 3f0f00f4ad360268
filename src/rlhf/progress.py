"""Progress bars for long work: shown on a terminal, off in pipes, tests, CI and with `--quiet`."""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_quiet = contextvars.ContextVar("rlhf_progress_quiet", default=False)


def set_quiet(quiet: bool) -> None:
    """Switch progress bars off (`--quiet`) or back to automatic (on for terminals only)."""
    _quiet.set(quiet)


def progress(
    items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """`items`, with a progress bar when writing to a terminal and not quiet."""
    # disable=None lets tqdm switch itself off when stderr is not a terminal
    yield from tqdm(
        items,
        desc=desc,
        total=total,
        unit=unit,
        leave=False,
        disable=True if _quiet.get() else None,
    )
