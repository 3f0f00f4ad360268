"""`rlhf report` as a reader sees it: the page opened from disk in headless Chromium.

Every chart decodes, the headings and the contents are there, nothing is fetched from the
network, nothing logs an error, and model text shows as text. A screenshot is kept in tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from report_samples import SCRIPT, write_run_dir
from rlhf.eval.report import write_report

pytestmark = pytest.mark.browser

SECTIONS = ["Summary", "Training runs", "Evaluations", "Samples before and after",
            "Annotator quality"]  # fmt: skip


def test_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    report = write_report(write_run_dir(tmp_path / "run"))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.resolve().as_uri())
    page.wait_for_load_state("load")

    images = page.locator("img")
    assert images.count() == 6
    for i in range(images.count()):
        decoded = images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
        assert decoded, images.nth(i).get_attribute("alt")
        assert images.nth(i).bounding_box()["width"] > 200
    assert page.locator("h2").all_inner_texts() == ["Contents", *SECTIONS]
    assert page.locator("nav a").all_inner_texts() == SECTIONS
    assert page.locator("h1").inner_text() == f"Demo run {SCRIPT}"
    assert page.get_by_text(f"It is 4. {SCRIPT}").is_visible()  # shown as text, never run
    assert page.locator("script").count() == 0
    assert errors == []
    assert all(url.startswith(("file://", "data:")) for url in requests), requests

    page.locator("nav a", has_text="Annotator quality").click()
    assert page.locator("#quality").bounding_box()["y"] < 900  # the link scrolls there
    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 50_000
    context.close()
