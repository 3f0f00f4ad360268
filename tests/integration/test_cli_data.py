"""The real `rlhf data ...` commands, run as a user runs them: a subprocess, exit codes, output."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

RLHF = [sys.executable, "-m", "rlhf"]

GOOD = [
    {"prompt": "2+2?", "chosen": "4", "rejected": "5", "annotator": "ann1"},
    {"prompt": "3+3?", "chosen": "6", "rejected": "7", "annotator": "ann2", "tie": True},
]


def rlhf(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RLHF, *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "good.jsonl", list(GOOD))


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        json.dumps(GOOD[0]).encode()
        + b'\n{"prompt": "p", "chosen": "same", "rejected": "same"}\n'
        + b'{"prompt": "p", "chosen": [{"role": "bot", "content": "x"}], "rejected": "y"}\n'
        + b"{not json\n"
        + b'{"prompt": "\xff"}\n'
        + b'{"prompt": "", "chosen": "a"}\n'
    )
    return path


def test_every_command_has_help() -> None:
    for command in (
        ["demo"],
        ["data", "validate"],
        ["data", "stats"],
        ["data", "convert"],
        ["data", "import"],
        ["data", "export"],
    ):
        result = rlhf(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "--json" in result.stdout


def test_validate_clean_file(good: Path) -> None:
    result = rlhf("data", "validate", good, "--json")
    assert result.returncode == 0
    assert last_json(result) == {
        "ok": True,
        "file": str(good),
        "format": "rlhf",
        "kind": "pair",
        "records": 2,
        "problems": 0,
    }


def test_validate_lists_every_problem_as_file_line_field_reason(bad: Path) -> None:
    result = rlhf("data", "validate", bad)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:-1] == [
        f"{bad}:2: rejected: identical to chosen",
        f"{bad}:3: chosen[0].role: unknown role 'bot' (expected one of system, user, assistant, tool)",
        f"{bad}:4: json: Expecting property name enclosed in double quotes (column 2)",
        f"{bad}:5: encoding: invalid UTF-8 at byte 12",
        f"{bad}:6: rejected: missing",
    ]  # the full list, in file order; content rules run once a record's shape is right
    assert "problem(s)" in lines[-1]


def test_validate_json_summary_is_the_last_stdout_line(bad: Path) -> None:
    result = rlhf("data", "validate", bad, "--json")
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1  # human lines went to stderr
    assert last_json(result)["problems"] == 5


def test_validate_missing_file_and_wrong_format(tmp_path: Path, good: Path) -> None:
    missing = rlhf("data", "validate", tmp_path / "nope.jsonl")
    assert missing.returncode == 1
    assert "nope.jsonl: file: no such file" in missing.stdout
    wrong = rlhf("data", "validate", good, "--format", "pandalm")
    assert wrong.returncode == 1
    assert "response1: missing" in wrong.stdout
    usage = rlhf("data", "validate", good, "--format", "csv")
    assert usage.returncode == 2
    assert "invalid choice" in usage.stderr


def test_stats(good: Path) -> None:
    result = rlhf("data", "stats", good, "--json")
    assert result.returncode == 0, result.stderr
    summary = last_json(result)
    assert summary["records"] == 2
    assert summary["ties"] == 1
    assert summary["duplicates"] == 0
    assert summary["annotators"]["count"] == 2  # type: ignore[index]
    assert summary["chars"]["prompt"]["max"] == 4  # type: ignore[index]


def test_convert_round_trip_and_refusal(tmp_path: Path, good: Path, bad: Path) -> None:
    hh = tmp_path / "pairs.hh.jsonl.gz"
    assert rlhf("data", "convert", good, hh, "--to", "hh").returncode == 0
    first = json.loads(gzip.decompress(hh.read_bytes()).splitlines()[0])
    assert first == {
        "chosen": "\n\nHuman: 2+2?\n\nAssistant: 4",
        "rejected": "\n\nHuman: 2+2?\n\nAssistant: 5",
    }
    refused = rlhf("data", "convert", bad, tmp_path / "out.jsonl", "--to", "trl")
    assert refused.returncode == 1
    assert not (tmp_path / "out.jsonl").exists()  # nothing half-written
    no = rlhf("data", "convert", good, tmp_path / "x.jsonl", "--to", "pandalm")
    assert no.returncode == 1
    assert "holds annotation records" in no.stderr


def test_import_is_all_or_nothing_and_export_round_trips(
    tmp_path: Path, good: Path, bad: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    refused = rlhf("data", "import", bad, "--db", db, "--json")
    assert refused.returncode == 1
    assert f"{bad}:2: rejected: identical to chosen" in refused.stderr
    assert not (tmp_path / "feedback.db").exists()  # invalid input opened no store

    assert rlhf("data", "import", good, "--db", db).returncode == 0
    again = rlhf("data", "import", good, "--db", db, "--json")
    assert again.returncode == 0
    assert last_json(again)["skipped_duplicates"] == 2
    out = tmp_path / "exported.jsonl"
    assert rlhf("data", "export", out, "--db", db, "--records", "pairs").returncode == 0
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [{k: v for k, v in row.items() if k != "id"} for row in exported] == GOOD


def test_import_refuses_demonstrations_without_creating_a_store(tmp_path: Path) -> None:
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    demos = write_jsonl(tmp_path / "sft.jsonl", [{"messages": chat}, {"text": "Plain text."}])
    assert rlhf("data", "validate", demos).stdout.startswith(f"{demos}: 2 valid demonstration")
    db = tmp_path / "feedback.db"

    refused = rlhf("data", "import", demos, "--db", f"sqlite:///{db}", "--json")

    assert refused.returncode == 1
    assert "rlhf data import: error: 2 demonstration record(s): the store holds" in refused.stderr
    assert last_json(refused)["ok"] is False
    assert not db.exists()
