"""`describe`: what `rlhf data stats` reports, for the kinds the CLI tests do not cover."""

from __future__ import annotations

from rlhf.data import Demonstration, Message
from rlhf.data.stats import describe


def test_demonstrations_report_prompt_and_completion_lengths() -> None:
    demonstrations = [
        Demonstration(prompt="", completion="Plain text."),
        Demonstration(prompt="2+2?", completion="4"),
        Demonstration(prompt="2+2?", completion="4"),
    ]
    summary = describe(demonstrations)
    assert summary["kind"] == "demonstration"
    assert (summary["records"], summary["duplicates"], summary["ties"]) == (3, 1, 0)
    assert summary["chars"]["prompt"] == {"min": 0, "mean": 2.67, "median": 4, "p95": 4, "max": 4}
    assert summary["chars"]["completion"]["max"] == len("Plain text.")
    assert "annotators" not in summary


def test_conversational_demonstrations_count_as_conversational() -> None:
    chat = Demonstration(prompt=(), completion=(Message("assistant", "Hello!"),))
    summary = describe([chat])
    assert summary["conversational"] == 1
    assert summary["chars"]["completion"]["max"] == 6
