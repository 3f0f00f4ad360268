"""README.md and docs/ stay true: their commands run, their examples are valid records."""

from __future__ import annotations

import gzip
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from report_samples import write_run_dir
from rlhf.data import check_record, parse_record

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


def commands(path: Path) -> list[list[str]]:
    """The `rlhf ...` command lines of a document's bash blocks, comments removed."""
    found = []
    for block in blocks(path, "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "rlhf":
                found.append(words)
    return found


def run(words: list[str], cwd: Path) -> str:
    """Run an `rlhf` command line in `cwd`; it must succeed. Returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "rlhf", *words[1:], "--quiet"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"`{shlex.join(words)}` failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_readme_opens_with_exactly_the_two_commands() -> None:
    first = blocks(REPO / "README.md", "bash")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == [
        "make demo",
        "make test",
    ]


@pytest.mark.slow
def test_readme_commands_run(tmp_path: Path) -> None:
    found = commands(REPO / "README.md")
    assert found[0][:2] == ["rlhf", "demo"]
    # the main job, with its defaults: exit 0 means every result it must show was shown
    summary = json.loads(run(found[0], tmp_path).strip().splitlines()[-1])
    print({k: summary[k] for k in ("gold_win_rate", "gold_win_rate_ci_low", "rm_gold_agreement",
                                   "majority_gold_agreement", "kl", "seconds")})  # fmt: skip
    assert summary["gold_win_rate_ci_low"] > 0.5
    assert summary["rm_gold_agreement"] > summary["majority_gold_agreement"]
    assert all(summary["checks"].values())
    assert (tmp_path / summary["report"]).is_file()
    for words in found[1:]:
        run(words, tmp_path)


def test_data_format_examples_are_valid_records() -> None:
    examples = [json.loads(b) for b in blocks(REPO / "docs" / "data-formats.md", "json")]
    assert len(examples) == 5
    for example in examples:
        assert check_record(parse_record(example)) == []


def test_data_format_commands_run(tmp_path: Path) -> None:
    pair = json.loads(blocks(REPO / "docs" / "data-formats.md", "json")[0])
    (tmp_path / "pairs.jsonl").write_text(json.dumps(pair) + "\n")
    hh = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Go.",
    }
    (tmp_path / "hh.jsonl.gz").write_bytes(gzip.compress(json.dumps(hh).encode() + b"\n"))
    chat = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    }
    (tmp_path / "chat.jsonl").write_text(json.dumps(chat) + "\n")
    found = commands(REPO / "docs" / "data-formats.md")
    assert len(found) == 6
    for words in found:
        run(words, tmp_path)


def test_report_commands_run(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "runs" / "demo")
    found = [words for words in commands(REPO / "docs" / "evaluation.md") if words[1] == "report"]
    assert found
    for words in found:
        run(words, tmp_path)
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("doc", sorted((REPO / "docs").glob("*.md")), ids=lambda p: p.name)
def test_every_doc_command_is_a_real_command(doc: Path) -> None:
    for words in commands(doc):
        name = [w for w in words[1:3] if not w.startswith("-")][:2]  # `rlhf serve --db ...`
        result = subprocess.run(
            [sys.executable, "-m", "rlhf", *name, "--help"], capture_output=True, check=False
        )
        assert result.returncode == 0, shlex.join(words)
