"""Containers: JSONL, JSON arrays, Parquet and gzip; problems located by line; atomic writes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rlhf.data import (
    Demonstration,
    PreferencePair,
    Problem,
    Record,
    get_format,
    load_records,
    read_file,
    write_records,
)
from rlhf.data.files import UnsupportedFileError, container_of, read_objects, write_objects
from rlhf.data.records import Message

PAIRS = [
    PreferencePair(prompt="2+2?", chosen="4", rejected="5", id="a", metadata={"x": 1}),
    PreferencePair(prompt="Hi", chosen="Hello!", rejected="Go away.", tie=True, strength=2),
    PreferencePair(
        prompt=(Message("user", "Héllo 👋"),),
        chosen=(Message("assistant", "Bonjour"),),
        rejected=(Message("assistant", "..."),),
        metadata={"nested": {"a": [1, 2]}, "other": None},
    ),
]


@pytest.mark.parametrize("name", ["p.jsonl", "p.jsonl.gz", "p.json", "p.json.gz", "p.parquet"])
def test_every_container_round_trips_mixed_records(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_records(PAIRS, path)
    assert load_records(path) == PAIRS


PLAIN_DEMONSTRATIONS: list[Record] = [
    Demonstration(prompt="The sky is", completion=" blue.", id="d1", metadata={"x": [1]}),
    Demonstration(prompt="", completion="Plain language-model text, no prompt."),
]
CHAT_DEMONSTRATIONS: list[Record] = [
    Demonstration(
        prompt=(Message("system", "Be brief."), Message("user", "Héllo 👋")),
        completion=(Message("assistant", "Bonjour"),),
        source="writers",
    ),
    Demonstration(prompt=(), completion=(Message("assistant", "I open."),)),  # assistant first
]
CONTAINERS = ["d.jsonl", "d.jsonl.gz", "d.json", "d.json.gz", "d.parquet"]


@pytest.mark.parametrize("name", CONTAINERS)
@pytest.mark.parametrize(
    "records", [PLAIN_DEMONSTRATIONS, CHAT_DEMONSTRATIONS], ids=["plain", "conversational"]
)
@pytest.mark.parametrize("format", ["rlhf", "trl"])
def test_demonstrations_round_trip_in_every_container(
    tmp_path: Path, name: str, records: list[Record], format: str
) -> None:
    path = tmp_path / name
    write_records(records, path, format=format)
    result = read_file(path)  # detected: the canonical and TRL forms of a demonstration agree
    assert result.problems == []
    assert result.kind == "demonstration"
    assert result.records == records


def test_trl_sft_problems_carry_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    user, assistant = {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}
    rows: list[object] = [
        {"messages": [user, assistant]},
        {"messages": [assistant, user]},
        {"messages": [user, {"role": "assistant", "content": ""}]},
        {"text": "plain text"},  # valid: one style per record, not per file
        {"messages": [user, {"role": "robot", "content": "x"}]},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = read_file(path)
    assert [str(p) for p in result.problems] == [
        f"{path}:2: messages[1].role: the last message is from the user, not the assistant: "
        "nothing to learn; end each conversation with the assistant's reply",
        f"{path}:3: messages[1].content: empty",
        f"{path}:5: messages[1].role: unknown role 'robot' "
        "(expected one of system, user, assistant, tool)",
    ]
    assert result.format is get_format("trl")
    assert [entry.line for entry in result.entries] == [1, 4]


def test_canonical_demonstration_problems_carry_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "demos.json"
    path.write_text(
        '[\n  {"prompt": "p", "completion": "c"},\n  {"prompt": "p",\n   "completion": " "},\n'
        '  {"prompt": [], "completion": [{"role": "user", "content": "u"}]}\n]\n'
    )
    assert [str(p) for p in read_file(path).problems] == [
        f"{path}:3: completion: empty",
        f"{path}:5: completion[0].role: a user turn in the completion; move it into the prompt "
        "(only assistant turns are learned)",
    ]


def test_gzip_is_reproducible(tmp_path: Path) -> None:
    write_records(PAIRS, tmp_path / "a.jsonl.gz")
    write_records(PAIRS, tmp_path / "b.jsonl.gz")
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_container_from_suffix() -> None:
    assert container_of(Path("x.jsonl.gz")) == "jsonl"
    assert container_of(Path("x.ndjson")) == "jsonl"
    assert container_of(Path("x.pq")) == "parquet"
    with pytest.raises(UnsupportedFileError, match=r"unknown file type '\.csv'"):
        container_of(Path("x.csv"))
    with pytest.raises(UnsupportedFileError, match="Parquet compresses itself"):
        container_of(Path("x.parquet.gz"))


def test_jsonl_problems_carry_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}).encode()
    path.write_bytes(
        good + b"\n\n" + b'{"prompt": "p",\n' + b"\xff\xfe\n" + b"[1]\n" + good + b"\n"
    )
    result = read_file(path)
    assert [str(p) for p in result.problems] == [
        f"{path}:3: json: Expecting property name enclosed in double quotes (column 16)",
        f"{path}:4: encoding: invalid UTF-8 at byte 0",
        f"{path}:5: record: expected a JSON object, got array",
    ]
    assert [entry.line for entry in result.entries] == [1, 6]


def test_valid_records_leave_out_the_records_with_problems(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "a"}]
    lines += [
        {"prompt": "r", "chosen": "a", "rejected": "a"},
        {"prompt": "s", "chosen": "c", "rejected": "d"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = read_file(path)
    assert [entry.line for entry in result.entries] == [1, 3, 4]  # line 2 does not parse
    assert [record.prompt for record in result.valid_records] == ["p", "s"]


def test_json_array_problems_point_at_the_element_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        '[\n  {"prompt": "p", "chosen": "a", "rejected": "b"},\n'
        '  {"prompt": "p",\n   "chosen": "a", "rejected": "a"}\n]\n'
    )
    result = read_file(path)
    assert [str(p) for p in result.problems] == [f"{path}:3: rejected: identical to chosen"]


def test_truncated_json_array_and_nan_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[{"prompt": "p", "chosen": "a", "rejected": "b"},\n{"prompt": ')
    assert [p.field for p in read_file(path).problems] == ["json"]
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"prompt": "p", "chosen": "a", "rejected": "b", "confidence": NaN}\n')
    assert [p.reason for p in read_file(nan).problems] == ["NaN is not valid JSON"]


def test_unreadable_files_are_problems_not_exceptions(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl.gz").write_bytes(b"not gzip")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    for name in ("x.jsonl.gz", "x.parquet", "missing.jsonl", "empty.jsonl", "x.csv"):
        [problem] = read_file(tmp_path / name).problems
        assert (problem.line, problem.field) == (None, "file"), problem


def test_mixed_record_kinds_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "only a prompt"}\n'
    )
    [problem] = read_file(path).problems
    assert problem == Problem(
        str(path), 2, "record", "a prompt record in a file of pair records; use one kind per file"
    )


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        write_objects([{"ok": 1}, {"bad": object()}], path)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_parquet_keeps_absent_fields_absent_and_free_form_columns_exact(tmp_path: Path) -> None:
    objects = [{"a": 1, "m": {"k": [1, "x"]}}, {"b": "only here", "m": {"other": None}}]
    write_objects(objects, tmp_path / "o.parquet")
    read = [item.value for item in read_objects(tmp_path / "o.parquet")]
    assert read == objects


def test_json_file_holding_json_lines_reads(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    assert len(load_records(path)) == 2
    gz = tmp_path / "lines.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert len(load_records(gz)) == 2
