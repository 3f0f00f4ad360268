"""Prompts to generate from: the distinct prompts of any records, tokenized for generation.

Any record of the data contract has a prompt (pairs, rankings, demonstrations, annotations, prompt
records); online trainers and `rlhf sample` take them de-duplicated, rendered with the tokenizer's
chat template when it has one (`rlhf.data.tokenize.prompt_ids`), and cut from the left to
`max_prompt_length` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlhf.data.inputs import load_training_records
from rlhf.data.records import Text, render_plain
from rlhf.data.tokenize import prompt_ids
from rlhf.errors import UserError

__all__ = ["PromptExample", "load_prompts"]


@dataclass(frozen=True)
class PromptExample:
    prompt: Text
    ids: tuple[int, ...]

    @classmethod
    def encode(cls, prompt: Text, tokenizer: Any, *, max_prompt_length: int) -> PromptExample:
        """`prompt` tokenized for generation, cut from the left to `max_prompt_length` tokens."""
        return cls(prompt, tuple(prompt_ids(tokenizer, prompt)[-max_prompt_length:]))


def load_prompts(
    spec: str, format: str | None, tokenizer: Any, *, max_prompt_length: int
) -> list[PromptExample]:
    """The distinct prompts of the records in `spec` (FILE[,FILE]), tokenized for generation."""
    seen: set[str] = set()
    examples = []
    for record in load_training_records(spec, format):
        prompt = getattr(record, "prompt", None)
        if prompt is None:
            continue
        key = render_plain(prompt)
        if key in seen:
            continue
        seen.add(key)
        examples.append(
            PromptExample.encode(prompt, tokenizer, max_prompt_length=max_prompt_length)
        )
    if not examples:
        raise UserError(f"{spec} holds no prompts to generate from")
    return examples
