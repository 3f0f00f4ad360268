"""The annotation app as people use it: headless Chromium (Debian's) driven by Playwright.

An admin signs in with the link `rlhf serve` prints, creates two annotators and a campaign from a
pairs file; two annotators sign in with their links and label every item with the keyboard (one
of them undoes an answer); the admin exports from the dashboard and the files validate. The
comparison page is screenshotted and checked: two responses side by side, model text escaped.

The `browser` fixture (tests/e2e/conftest.py) needs Debian's chromium and the `playwright` package;
these tests are skipped without them, unless `RLHF_REQUIRE_BROWSER=1` (CI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlhf.cli import main
from rlhf.data import load_records
from rlhf.data.records import Annotation, PreferencePair
from rlhf.feedback.client import ServerProcess

pytestmark = pytest.mark.browser

ADMIN = "browser-test-admin-token-0123456789"
SCRIPT = "<script>alert(1)</script>"
PAIRS = [
    {
        "prompt": [{"role": "user", "content": "What is 2 + 2? Answer in **bold**."}],
        "chosen": [{"role": "assistant", "content": "It is **4**."}],
        "rejected": [{"role": "assistant", "content": f"It is 5. {SCRIPT}"}],
    },
    {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"},
    {"prompt": "Is the Earth flat?", "chosen": "No, it is round.", "rejected": "Yes."},
    {"prompt": "Largest planet?", "chosen": "Jupiter", "rejected": "Mars"},
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    with ServerProcess(db, admin_token=ADMIN, cwd=tmp_path) as running:
        yield running


def _sign_in(browser: Any, link: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(link)
    return page


def _create_annotator(admin: Any, name: str) -> str:
    admin.fill("#new-annotator input[name=name]", name)
    admin.click("#new-annotator button[type=submit]")
    link: str = admin.locator("code.token-link").inner_text().strip()
    assert link.startswith("http://127.0.0.1:")
    return link


def _label_with_keyboard(page: Any, keys: list[list[str]], undo_after_first: bool = False) -> int:
    """Answer every item with the keys given per item (cycled); returns how many were answered."""
    page.click("text=Start labelling")
    answered = 0
    while page.locator("form#answer").count():
        for key in keys[answered % len(keys)]:
            page.keyboard.press(key)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        answered += 1
        if undo_after_first and answered == 1:
            with page.expect_navigation():
                page.click("text=Undo last answer")
            answered -= 1
            undo_after_first = False
    assert "Nothing left for you" in page.content()
    return answered


def test_admin_campaign_two_annotators_keyboard_export(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    admin = _sign_in(browser, f"{server.url}/login?token={ADMIN}")
    assert admin.url.endswith("/admin")
    ann_link = _create_annotator(admin, "ann")
    bob_link = _create_annotator(admin, "bob")

    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(pair) + "\n" for pair in PAIRS))
    form = admin.locator("#new-campaign")
    form.locator("input[name=name]").fill("arith")
    form.locator("input[name=file]").set_input_files(str(items))
    form.locator("input[name=gold_from_labels]").check()
    form.locator("textarea[name=instructions]").fill("Pick the **correct** answer. <b>no html</b>")
    form.locator("input[name=overlap]").fill("2")
    form.locator("input[name=annotators]").fill("ann, bob")
    form.locator("button[type=submit]").click()
    admin.wait_for_url("**/admin/campaigns/arith")
    assert "0 of 8 answers" in admin.locator("p.summary").inner_text()

    ann = _sign_in(browser, ann_link)
    ann.click("text=Start labelling")
    _check_comparison_page(ann, tmp_path / "comparison.png")
    ann.goto(f"{server.url}/")
    assert _label_with_keyboard(ann, [["1", "3"], ["2", "1"]], undo_after_first=True) == 4
    bob = _sign_in(browser, bob_link)
    assert _label_with_keyboard(bob, [["3"], ["4"], ["1", "4"]]) == 4
    assert ann.dialogs == bob.dialogs == []  # no script from model text ever ran

    admin.reload()
    assert "8 of 8 answers" in admin.locator("p.summary").inner_text()
    rows = admin.locator("#annotators tbody tr").all_inner_texts()
    assert any(row.startswith("ann\t4") for row in rows), rows
    exported = {}
    for name, selector in (
        ("annotations", "text=Annotations (one per answer)"),
        ("aggregated", "#export-aggregated"),
    ):
        with admin.expect_download() as download:
            admin.click(selector)
        path = tmp_path / f"{name}.jsonl"
        download.value.save_as(path)
        assert main(["data", "validate", str(path), "--quiet"]) == 0  # the project's validator
        exported[name] = load_records(path)
    annotations = exported["annotations"]
    assert len(annotations) == 8
    assert all(isinstance(a, Annotation) for a in annotations)
    assert {a.annotator for a in annotations} == {"ann", "bob"}  # type: ignore[union-attr]
    assert all(a.seconds and a.seconds > 0 for a in annotations)  # type: ignore[union-attr]
    assert all(a.display_order in ((0, 1), (1, 0)) for a in annotations)  # type: ignore[union-attr]
    assert {a.metadata["gold"] for a in annotations} == {"a"}  # type: ignore[union-attr]
    assert all(isinstance(p, PreferencePair) for p in exported["aggregated"])
    assert 1 <= len(exported["aggregated"]) <= 4


def _check_comparison_page(page: Any, screenshot: Path) -> None:
    """The comparison page looks right: prompt on top, two responses side by side, the choice
    below; model text rendered as markdown with its HTML shown as text, never run."""
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    boxes = [page.locator("section.response").nth(i).bounding_box() for i in range(2)]
    left, right = boxes
    assert left is not None
    assert right is not None
    assert left["x"] + left["width"] <= right["x"]  # side by side, not stacked
    assert abs(left["y"] - right["y"]) < 2
    assert min(left["width"], right["width"]) > 400  # each about half of 1280 px
    prompt = page.locator("section.prompt").bounding_box()
    choice = page.locator("fieldset.choice").bounding_box()
    assert prompt["y"] + prompt["height"] <= left["y"]  # the prompt above the responses
    assert choice["y"] >= left["y"] + left["height"]  # the choice below them
    assert page.locator("section.response h2").all_inner_texts() == ["Response A", "Response B"]
    assert page.locator("section.prompt strong").inner_text() == "bold"  # markdown rendered
    assert page.get_by_text(SCRIPT).is_visible()  # shown as text
    assert page.locator("section.response script").count() == 0
    assert page.locator(".instructions strong").inner_text() == "correct"
    assert page.get_by_text("<b>no html</b>").is_visible()
    assert page.locator("fieldset.choice").evaluate("e => e.classList.contains('active')")
    _assert_screenshot_has_two_columns(screenshot, left, right)


def _assert_screenshot_has_two_columns(
    screenshot: Path, left: dict[str, float], right: dict[str, float]
) -> None:
    """In the pixels: the two response boxes are white cards with a grey gap between them."""
    from PIL import Image

    with Image.open(screenshot) as image:
        rgb = image.convert("RGB")
        y = int(left["y"] + 10)
        inside_left = rgb.getpixel((int(left["x"] + left["width"] / 2), y))
        inside_right = rgb.getpixel((int(right["x"] + right["width"] / 2), y))
        gap = rgb.getpixel((int((left["x"] + left["width"] + right["x"]) / 2), y))
        colours = len(rgb.resize((320, 225)).getcolors(maxcolors=320 * 225) or [])
    assert inside_left == inside_right == (255, 255, 255)
    assert gap != (255, 255, 255)  # the page background shows between the cards
    assert colours > 20  # text and borders, not a blank page


def test_ranking_page_with_ties(browser: Any, server: ServerProcess) -> None:
    from rlhf.feedback.client import Client

    admin = Client(server.url, ADMIN)
    token = admin.call("POST", "/api/annotators", {"name": "ranker"}).json["token"]
    samples = [
        {"prompt": "Name a prime.", "responses": ["2", "4", "9"], "models": ["m1", "m2", "m3"]}
    ]
    body = {"name": "primes", "annotators": ["ranker"], "samples": samples}
    assert admin.call("POST", "/api/campaigns", body).status == 201

    page = _sign_in(browser, f"{server.url}/login?token={token}")
    page.click("text=Start labelling")
    responses = page.locator("section.response")
    assert responses.count() == 3
    boxes = [responses.nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]  # three columns side by side
    for i in range(3):  # the prime first, the other two tied
        text = responses.nth(i).locator(".text").inner_text().strip()
        responses.nth(i).locator("select[name=ranks]").select_option("1" if text == "2" else "2")
    page.locator("body").click()  # leave the select: Enter submits the page
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Nothing left for you" in page.content()

    exported = admin.call("GET", "/api/campaigns/primes/export?records=rankings").text
    (ranking,) = [json.loads(line) for line in exported.splitlines()]
    assert ranking["responses"] == ["2", "4", "9"]
    assert ranking["ranks"] == [1, 2, 2]
    admin.close()
