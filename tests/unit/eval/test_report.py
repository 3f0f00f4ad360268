"""`rlhf report`: what a run directory holds becomes one self-contained, escaped HTML page."""

from __future__ import annotations

import base64
import io
import json
import re
from html import escape
from pathlib import Path

import pytest
from PIL import Image

from report_samples import (
    FIGURES,
    PROMPTS,
    SCRIPT,
    eval_result,
    online_rows,
    quality_summary,
    sft_rows,
    write_json,
    write_jsonl,
    write_run_dir,
)
from rlhf.errors import UserError
from rlhf.eval.plots import MAX_LINES, MAX_PANELS, panel_columns
from rlhf.eval.report import render_report, write_report
from rlhf.eval.rundir import read_run_dir
from rlhf.quality import report as quality_report

IMAGE = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def html(run_dir: Path) -> str:
    return render_report(read_run_dir(run_dir))


def headings(html: str, level: int) -> list[str]:
    return re.findall(rf"<h{level}>(.*?)</h{level}>", html)


def test_every_section_is_present_and_listed_in_the_contents(html: str) -> None:
    sections = ["Summary", "Training runs", "Evaluations", "Samples before and after",
                "Annotator quality"]  # fmt: skip
    assert headings(html, 2) == ["Contents", *sections]
    toc = re.search(r"<nav>.*?</nav>", html)
    assert toc is not None
    assert re.findall(r'<a href="#(\w+)">', toc.group()) == re.findall(
        r'<section id="(\w+)">', html
    )
    assert headings(html, 3)[:6] == [
        "Headline figures", "Checks", "Time per phase", "Rounds", "ppo", "sft",
    ]  # fmt: skip
    assert "<title>Demo run &lt;script&gt;alert(1)&lt;/script&gt;</title>" in html


def test_each_figure_is_stated_with_where_it_came_from(html: str) -> None:
    figures = html.split("<h3>Headline figures</h3>")[1].split("</table>")[0]
    rows = re.findall(
        r'<tr><td>([^<]*)</td><td class="num">([^<]*)</td><td>([^<]*)</td></tr>', figures
    )
    assert rows == [
        (escape(name), "n/a" if f["value"] is None else str(f["value"]), escape(f["source"]))
        for name, f in FIGURES.items()
    ]
    assert ("gold reward after PPO", "n/a", "no gold scorer &amp; none logged") in rows


def test_checks_say_which_held(html: str) -> None:
    checks = html.split("<h3>Checks</h3>")[1].split("</table>")[0]
    assert re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", checks) == [
        ("the policy beats SFT", "yes"),
        ("nothing odd &lt;script&gt;alert(1)&lt;/script&gt;", "NO"),
    ]


def test_rounds_table_has_the_union_of_keys_and_na_for_null(html: str) -> None:
    rounds = html.split("<h3>Rounds</h3>")[1].split("</table>")[0]
    assert re.findall(r"<th>(.*?)</th>", rounds) == ["round", "pairs", "win_rate", "note"]
    assert '<td class="num">n/a</td><td>annotators disagreed</td>' in rounds
    assert '<td class="num">0.6</td><td></td>' in rounds  # round 1 has no note


def test_charts_are_inline_pngs_that_decode(html: str) -> None:
    images = IMAGE.findall(html)
    assert [alt for alt, _ in images] == [
        "seconds per phase",
        "training curves of ppo",
        "reward against KL of ppo",  # the online run has a KL; the SFT run does not
        "training curves of sft",
        "win rates with their intervals",
        "position and length bias per annotator",
    ]
    for _, data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG"
            assert image.width > 300
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10


def test_self_contained_and_every_string_escaped(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html
    assert f"It is 4. {escape(SCRIPT)}" in html
    assert "&quot;runs/sft &lt;b&gt;&quot;" in html  # the resolved config, escaped
    assert "<b>" not in html


def test_eval_table_states_the_win_rate_interval_and_counts(html: str) -> None:
    evals = html.split('<section id="evaluations">')[1].split("</section>")[0]
    row = ["eval/ppo.eval.json", "runs/ppo", "runs/sft", "0.667", "[0.200, 0.940]", "95% wilson",
           "2 / 0 / 1", "3", "n/a"]  # fmt: skip
    assert re.findall(r"<td[^>]*>(.*?)</td>", evals)[: len(row)] == row
    assert "0.333" in evals  # the baseline's judge mean


def test_samples_show_baseline_and_policy_side_by_side(html: str) -> None:
    samples = html.split('<section id="samples">')[1].split("</section>")[0]
    cells = [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", samples)
    ]
    result = eval_result()
    assert [c[0] for c in cells[1:]] == list(PROMPTS)
    assert cells[3] == ["Capital of France?", "Paris", "1.000", "Lyon", "0.000"]
    assert [c[1] for c in cells[1:]] == [s.response for s in result.baseline.samples]


def test_quality_section_reuses_the_quality_reports_tables(html: str) -> None:
    summary = quality_summary()
    for part in (
        quality_report.agreement_table(summary),
        quality_report.annotator_table(summary),
        quality_report.consensus_table(summary),
    ):
        assert part in html
    assert "Fleiss&#x27; kappa" in html
    assert "too_fast, spammer" in html  # the planted spammer's flags
    assert "<h5>lefty</h5>" in html


def test_training_run_lists_the_last_values_it_plots(html: str) -> None:
    ppo = html.split("<h3>ppo</h3>")[1].split("<h3>sft</h3>")[0]
    assert "20 rows logged, steps 1 to 20." in ppo
    assert '<td>gold/score</td><td class="num">0</td><td class="num">20</td>' in ppo
    assert "<details><summary>Resolved config</summary>" in ppo


def test_panels_pick_the_main_curves_at_most_six_of_four_lines() -> None:
    assert panel_columns(online_rows()) == [
        ("Loss", ["policy/loss", "value/loss"]),
        ("Reward", ["reward/score", "gold/score", "reward/shaped"]),
        ("KL from the reference", ["kl"]),
        ("Evaluation", ["eval/reward"]),
        ("Response length", ["response/length"]),
    ]
    assert panel_columns(sft_rows()) == [
        ("Loss", ["train/loss"]),
        ("Evaluation loss", ["eval/loss"]),
    ]
    wide = [{"step": 1, **{f"loss/{k}": 1.0 for k in range(9)}, **{f"eval/m{k}": 1.0 for k in range(9)},
             "kl": 1.0, "reward": 1.0, "eval/loss": 1.0, "train/accuracy": 1.0,
             "response/length": 1.0}]  # fmt: skip
    panels = panel_columns(wide)
    assert len(panels) == MAX_PANELS
    assert all(len(columns) <= MAX_LINES for _, columns in panels)
    assert panels[0] == ("Loss", ["loss/0", "loss/1", "loss/2", "loss/3"])


def test_only_what_exists_gets_a_section(tmp_path: Path) -> None:
    write_json(tmp_path / "eval.json", eval_result().as_json("bootstrap", 0.9))
    html = render_report(read_run_dir(tmp_path))
    assert headings(html, 2) == ["Contents", "Evaluations", "Samples before and after"]
    assert "90% bootstrap" in html
    assert "[0.330, 1.000]" in html
    assert f"<title>Run report: {tmp_path.name}</title>" in html


def test_write_report_writes_run_dir_report_html_or_the_given_file(
    run_dir: Path, tmp_path: Path
) -> None:
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    assert path.read_text().startswith("<!DOCTYPE html>")
    other = write_report(run_dir, tmp_path / "elsewhere.html")
    assert other == tmp_path / "elsewhere.html"
    assert other.read_text() == path.read_text()


def test_a_missing_run_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'nope'}: no such directory")):
        write_report(tmp_path / "nope")


def test_a_directory_with_nothing_to_report_says_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError) as error:
        write_report(tmp_path)
    for name in ("summary.json", "metrics.jsonl", "eval.json", "*.eval.json", "quality.json"):
        assert name in str(error.value)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("a/eval.json", '{"win_rate": 0.5,\n  oops}', "a/eval.json:2: not valid JSON"),
        (
            "b.quality.json",
            "[1, 2]",
            "b.quality.json: not a quality summary: expected a JSON object",
        ),
        (
            "c.eval.json",
            '{"win_rate": 0.5}',
            "c.eval.json: not an rlhf eval --output summary: missing",
        ),
        ("summary.json", '{"figures": [1]}', "summary.json: figures should be a JSON dict"),
        (
            "run/metrics.jsonl",
            '{"step": 1}\n\n{"step": 2, "kl": }\n',
            "run/metrics.jsonl:3: not JSON",
        ),
        (
            "run/metrics.jsonl",
            '{"loss": 1.0}\n',
            "run/metrics.jsonl:1: expected an object with an integer step",
        ),
    ],
)
def test_a_malformed_file_is_named_and_nothing_is_written(
    tmp_path: Path, path: str, text: str, message: str
) -> None:
    write_jsonl(tmp_path / "good" / "metrics.jsonl", sft_rows())
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    with pytest.raises(UserError, match=re.escape(message)) as error:
        write_report(tmp_path)
    assert str(tmp_path) in str(error.value)
    assert not (tmp_path / "report.html").exists()


def test_eval_json_is_what_rlhf_eval_writes(run_dir: Path) -> None:
    (doc,) = read_run_dir(run_dir).evals
    assert doc.name == "eval/ppo.eval.json"
    assert doc.data == json.loads(json.dumps(eval_result().as_json("wilson", 0.95)))
    assert doc.data["rm_judge_agreement"] is None  # nan becomes null, and n/a in the report
