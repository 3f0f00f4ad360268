"""Fuzzing the readers: arbitrary bytes and mutated records give clean problems, never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rlhf.data import FORMATS, read_file

SUFFIXES = [".jsonl", ".json", ".jsonl.gz", ".parquet"]
VALID = [
    {"prompt": "p", "chosen": "a", "rejected": "b", "strength": 2, "metadata": {"k": 1}},
    {
        "prompt": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
    },
    {"prompt": "p", "responses": ["a", "b", "c"], "ranks": [1, 2, None]},
    {
        "item_id": "i",
        "annotator": "x",
        "prompt": "p",
        "responses": ["a", "b"],
        "judgment": "tie",
        "display_order": [1, 0],
        "seconds": 3,
    },
    {"chosen": "\n\nHuman: hi\n\nAssistant: yo", "rejected": "\n\nHuman: hi\n\nAssistant: no"},
    {"prompt": "p", "completion": "c", "id": "d", "metadata": {"k": 1}},
    {"prompt": [], "completion": [{"role": "assistant", "content": "a"}]},
    {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    {"text": "t", "lang": "en"},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _read_bytes(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        for fmt in (None, *FORMATS):
            result = read_file(path, format=fmt)
            for problem in result.problems:
                assert str(problem).startswith(str(path))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes_never_raise(data: bytes, suffix: str) -> None:
    _read_bytes(data, suffix)


def _mutate(record: dict[str, Any], key: str, value: Any, drop: bool) -> dict[str, Any]:
    out = dict(record)
    if drop and key in out:
        del out[key]
    else:
        out[key] = value
    return out


@settings(max_examples=200, deadline=None)
@given(
    record=st.sampled_from(VALID),
    key=st.sampled_from(
        [
            "prompt",
            "chosen",
            "rejected",
            "responses",
            "ranks",
            "judgment",
            "item_id",
            "strength",
            "display_order",
            "seconds",
            "metadata",
            "safety_flags",
            "completion",
            "messages",
            "text",
            "label",
            "x",
        ]
    ),
    value=json_values,
    drop=st.booleans(),
)
@example(record=VALID[3], key="seconds", value=10**400, drop=False)  # found by this test once
def test_mutated_records_give_problems_not_exceptions(
    record: dict[str, Any], key: str, value: Any, drop: bool
) -> None:
    line = json.dumps(_mutate(record, key, value, drop)).encode()
    _read_bytes(line + b"\n", ".jsonl")
