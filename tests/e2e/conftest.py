"""The browser the e2e tests drive: Debian's chromium, headless, through Playwright.

Needs `/usr/bin/chromium` (Debian's `chromium` package, or `RLHF_CHROMIUM`) and the `playwright`
Python package; never downloads a browser. Tests using `browser` are skipped when either is
missing, unless `RLHF_REQUIRE_BROWSER=1` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("RLHF_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(require_or_skip: Callable[[str, str], None]) -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (no browser download)."""
    required = "RLHF_REQUIRE_BROWSER"
    executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if executable is None:
        require_or_skip(
            required, f"{CHROMIUM} not found; install Debian's chromium (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_or_skip(
            required, "the playwright package is not installed (pip install -e '.[dev]')"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
