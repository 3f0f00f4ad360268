"""Batches of tokenized examples: padded rows, or packed rows that never attend across examples.

A packed row holds several short examples back to back. Their positions restart at 0 for each
example, and the attention mask is block-diagonal (each token attends, causally, only to earlier
tokens of its own example), given to the model as a (B, 1, T, T) boolean mask — so a packed row
computes exactly what the examples would compute alone, without padding in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rlhf.data.tokenize import TokenizedCompletion

PADDING_SEGMENT = -1
"""Segment id of padding positions in a packed row."""


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and masks for a causal LM's forward pass."""

    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor
    """(B, T), 1 = real token; or (B, 1, T, T) boolean, True = may attend (packed rows)."""
    position_ids: torch.Tensor  # (B, T)
    completion_mask: torch.Tensor
    """(B, T), 1 on completion tokens: the tokens the loss covers."""

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
        }


def pad_batch(examples: Sequence[TokenizedCompletion], pad_id: int) -> TokenBatch:
    """One example per row, padded on the right to the longest."""
    length = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), length), dtype=torch.long)
    completion = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        attention[row, :n] = 1
        completion[row, :n] = torch.tensor(example.completion_mask)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return TokenBatch(ids, attention, positions, completion)


def pack(examples: Sequence[TokenizedCompletion], length: int) -> list[list[TokenizedCompletion]]:
    """Group examples into rows of at most `length` tokens (first fit, in order; deterministic)."""
    rows: list[list[TokenizedCompletion]] = []
    room: list[int] = []
    for example in examples:
        size = len(example.input_ids)
        slot = next((i for i, free in enumerate(room) if free >= size), None)
        if slot is None:
            rows.append([example])
            room.append(length - size)
        else:
            rows[slot].append(example)
            room[slot] -= size
    return rows


def packed_batch(rows: Sequence[Sequence[TokenizedCompletion]], pad_id: int) -> TokenBatch:
    """Packed rows with restarting positions and a block-diagonal causal attention mask."""
    length = max(sum(len(e.input_ids) for e in row) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), length), dtype=torch.long)
    completion = torch.zeros((len(rows), length), dtype=torch.long)
    segments = torch.full((len(rows), length), PADDING_SEGMENT, dtype=torch.long)
    for r, row in enumerate(rows):
        start = 0
        for s, example in enumerate(row):
            end = start + len(example.input_ids)
            ids[r, start:end] = torch.tensor(example.input_ids)
            completion[r, start:end] = torch.tensor(example.completion_mask)
            positions[r, start:end] = torch.arange(end - start)
            segments[r, start:end] = s
            start = end
    causal = torch.ones((length, length), dtype=torch.bool).tril()  # (T, T)
    same = segments[:, :, None] == segments[:, None, :]  # (B, T, T)
    real = (segments != PADDING_SEGMENT)[:, None, :]  # (B, 1, T)
    # padding attends to itself only, so its softmax has a finite row
    attention = (same & real & causal) | torch.eye(length, dtype=torch.bool)
    return TokenBatch(ids, attention[:, None], positions, completion)
