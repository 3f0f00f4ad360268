"""Typed configs become command-line arguments, with the field docstrings as help."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from rlhf.cli.arguments import add_arguments, build, field_docs, positional
from rlhf.fields import nested
from rlhf.train.config import config_to_json
from rlhf.train.ppo import PPOConfig


@dataclass(frozen=True, kw_only=True)
class Optim:
    lr: float = 1e-3
    """Learning rate."""


@dataclass(frozen=True, kw_only=True)
class Example:
    data: Path = positional()
    """Input file."""
    mode: Literal["fast", "slow"] = "fast"
    """How to run."""
    steps: int | None = None
    """Stop after this many steps."""
    verbose: bool = False
    """Say more."""
    optim: Optim = field(default_factory=Optim)
    """Optimizer settings."""

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}; use 1 or more")


def parse(*argv: str) -> Example:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, Example)
    return build(Example, parser.parse_args(argv))


def test_docstrings_are_the_help() -> None:
    assert field_docs(Example) == {
        "data": "Input file.",
        "mode": "How to run.",
        "steps": "Stop after this many steps.",
        "verbose": "Say more.",
        "optim": "Optimizer settings.",
    }
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    text = parser.format_help()
    assert "Stop after this many steps." in text
    assert "Learning rate. (default: 0.001)" in text


def test_parse_defaults_and_values() -> None:
    assert parse("in.jsonl") == Example(data=Path("in.jsonl"))
    assert parse(
        "x", "--mode", "slow", "--steps", "3", "--verbose", "--optim.lr", "0.5"
    ) == Example(data=Path("x"), mode="slow", steps=3, verbose=True, optim=Optim(lr=0.5))


def test_bad_values_are_usage_errors() -> None:
    with pytest.raises(argparse.ArgumentError):
        parse("x", "--mode", "medium")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        parse("x", "--steps", "0")


def test_config_to_json() -> None:
    assert config_to_json(parse("x")) == {
        "data": "x",
        "mode": "fast",
        "steps": None,
        "verbose": False,
        "optim": {"lr": 0.001},
    }


@dataclass(frozen=True, kw_only=True)
class Inner:
    lr: float = 1.0
    """Learning rate."""


@dataclass(frozen=True, kw_only=True)
class Outer:
    optim: Inner = field(default_factory=lambda: Inner(lr=0.5))
    """The optimizer, with another default than Inner's own."""


def test_a_nested_config_takes_its_defaults_from_the_enclosing_field() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Outer)
    assert build(Outer, parser.parse_args([])) == Outer()
    assert build(Outer, parser.parse_args(["--optim.lr", "2"])).optim.lr == 2.0


@dataclass(frozen=True, kw_only=True)
class WithTuple:
    stop: tuple[str, ...] = ()
    """Stop strings."""


def test_tuple_fields_take_several_values() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, WithTuple)
    assert build(WithTuple, parser.parse_args([])).stop == ()
    parsed = build(WithTuple, parser.parse_args(["--stop", "###", "END"]))
    assert parsed.stop == ("###", "END")


@dataclass(frozen=True, kw_only=True)
class WithAlias:
    cost: Optim = nested(Optim, aliases={"lr": "--cost-lr"})
    """Cost settings."""


def test_a_nested_flag_takes_its_declared_flat_spelling_too() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, WithAlias)
    assert build(WithAlias, parser.parse_args([])) == WithAlias()
    assert build(WithAlias, parser.parse_args(["--cost-lr", "2"])).cost.lr == 2.0
    assert build(WithAlias, parser.parse_args(["--cost.lr", "3"])).cost.lr == 3.0


def test_safe_ppo_takes_the_cost_model_as_the_issue_spells_it() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, PPOConfig)
    argv = ["--data", "p.jsonl", "--model", "sft", "--reward.model", "rm", "--output", "out"]
    config = build(
        PPOConfig, parser.parse_args([*argv, "--cost-model", "cost", "--cost-limit", "0.5"])
    )
    assert (config.cost.model, config.cost_limit) == ("cost", 0.5)
