"""Batches of tokenized examples: padded rows, packed rows that never attend across examples, and
pair rows that compute a shared prompt once.

A packed row holds several short examples back to back. Their positions restart at 0 for each
example, and the attention mask is block-diagonal (each token attends, causally, only to earlier
tokens of its own example), given to the model as a (B, 1, T, T) boolean mask — so a packed row
computes exactly what the examples would compute alone, without padding in between.

A pair row (`shared_prefix_batch`) holds two sequences that start with the same k prompt tokens
p_1..p_k, e.g. a prompt with its chosen and its rejected response:

    p_1 .. p_k  a_1 .. a_m  |  p_k  b_1 .. b_n
    positions 0 .. k+m-1    |  k-1, k .. k+n-1

The second sequence continues from a copy of p_k with p_k's position, and attends to p_1..p_(k-1)
and to itself, never to the first's tokens: every token computes what it computes in its own
sequence (the copy of p_k too), so p_k's copy predicts b_1 by the usual shift, and the shared
prompt runs through the model once instead of twice.

`masked_logprobs` is the forward pass every trainer of completions shares: it asks the model for
logits only from the position before the batch's first completion token on (`logits_to_keep`), so
the LM head and the log-softmax skip the prompt columns that no loss reads.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rlhf.data.tokenize import TokenizedCompletion
from rlhf.ops.logprobs import segment_logprobs

PADDING_SEGMENT = -1
"""Segment id of padding positions in a packed row."""


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and masks for a causal LM's forward pass."""

    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor
    """(B, T), 1 = real token; or (B, 1, T, T) boolean, True = may attend (packed and pair rows)."""
    position_ids: torch.Tensor  # (B, T)
    completion_mask: torch.Tensor
    """(B, T), 1 on completion tokens: the tokens the loss covers (of the first sequence of a pair
    row; `shared_prefix_batch` returns the second's mask beside the batch)."""
    first_target: int = 1
    """The first column holding a completion token in any row (>= 1): no logits before column
    `first_target - 1` are needed. 1 (the default) keeps them all."""

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
        }


def completion_logprobs(model: nn.Module, batch: TokenBatch) -> torch.Tensor:
    """log pi(completion | prompt) of every row, (B,): the sum over `batch.completion_mask`."""
    return masked_logprobs(model, batch, batch.completion_mask[None])[0]


def masked_logprobs(model: nn.Module, batch: TokenBatch, masks: torch.Tensor) -> torch.Tensor:
    """(S, B): per row, the sum of log pi(token | what it attends to) over the tokens of each of
    the S masks `masks` (S, B, T) (`rlhf.ops.segment_logprobs` of the model's logits).

    No mask may cover a column before `batch.first_target`: those columns' logits are not computed
    when the model's forward takes `logits_to_keep` (transformers causal LMs do); labels and masks
    are cut to match, so the result is the same as from the full (B, T, V) logits.
    """
    start = batch.first_target - 1 if _keeps_logits(model) else 0
    inputs: dict[str, Any] = batch.model_inputs()
    if start > 0:
        inputs["logits_to_keep"] = batch.input_ids.shape[1] - start  # the last T - start columns
    logits = model(**inputs).logits  # (B, T - start, V)
    return segment_logprobs(logits, batch.input_ids[:, start:], masks[..., start:])


def _keeps_logits(model: nn.Module) -> bool:
    """Whether `model`'s forward takes `logits_to_keep` (through DDP and peft wrappers)."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    supports = getattr(inner, "_supports_logits_to_keep", None)  # transformers' GenerationMixin
    if callable(supports):
        return bool(supports())
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


def _first_target(prompt_lengths: Sequence[int]) -> int:
    return max(1, min(prompt_lengths))


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
    first = _first_target([e.prompt_length for e in examples])
    return TokenBatch(ids, attention, positions, completion, first_target=first)


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
    first = _first_target([row[0].prompt_length for row in rows])  # each row starts with a prompt
    return TokenBatch(ids, attention[:, None], positions, completion, first_target=first)


def shared_prefix_batch(
    pairs: Sequence[tuple[TokenizedCompletion, TokenizedCompletion]], pad_id: int
) -> tuple[TokenBatch, torch.Tensor]:
    """One row per pair (module docstring): the first sequence, then the second from a copy of the
    last prompt token they share on. Returns the batch, whose `completion_mask` marks the first
    sequence's completion, and the second's completion mask (B, T), 1 where its tokens lie."""
    rows = [_pair_row(first, second) for first, second in pairs]
    length = max(len(row.ids) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), length), dtype=torch.long)
    segments = torch.full((len(rows), length), PADDING_SEGMENT, dtype=torch.long)
    first_mask = torch.zeros((len(rows), length), dtype=torch.long)
    second_mask = torch.zeros((len(rows), length), dtype=torch.long)
    for r, row in enumerate(rows):
        n = len(row.ids)
        ids[r, :n] = torch.tensor(row.ids)
        positions[r, :n] = torch.tensor(row.positions)
        segments[r, :n] = torch.tensor(row.segments)
        first_mask[r, :n] = torch.tensor(row.first_mask)
        second_mask[r, :n] = torch.tensor(row.second_mask)
    visible = torch.tensor([row.visible for row in rows])  # (B,) prompt columns the second sees
    column = torch.arange(length)
    query, key = segments[:, :, None], segments[:, None, :]  # (B, T, 1), (B, 1, T)
    sees = (
        (query == key)
        | ((key == _PROMPT) & (query == _FIRST))
        | ((query == _SECOND) & (column < visible[:, None])[:, None, :])
    )  # (B, T, T)
    causal = torch.ones((length, length), dtype=torch.bool).tril()  # (T, T)
    real = (segments != PADDING_SEGMENT)[:, None, :]  # (B, 1, T)
    attention = (sees & real & causal) | torch.eye(length, dtype=torch.bool)
    first = _first_target([first.prompt_length for first, _ in pairs])
    batch = TokenBatch(ids, attention[:, None], positions, first_mask, first_target=first)
    return batch, second_mask


_PROMPT, _FIRST, _SECOND = 0, 1, 2
"""Segments of a pair row: the shared prompt, the rest of the first sequence, the second's tail."""


@dataclass(frozen=True)
class _PairRow:
    ids: list[int]
    positions: list[int]
    segments: list[int]
    first_mask: list[int]
    second_mask: list[int]
    visible: int
    """The second sequence attends to columns 0 .. visible - 1 of the shared prompt."""


def _pair_row(first: TokenizedCompletion, second: TokenizedCompletion) -> _PairRow:
    limit = min(first.prompt_length, second.prompt_length)
    shared = 0  # prompts truncated to different lengths share less than a whole prompt
    while shared < limit and first.input_ids[shared] == second.input_ids[shared]:
        shared += 1
    tail = max(shared - 1, 0)  # the second restarts at the copy of the last shared token
    return _PairRow(
        ids=[*first.input_ids, *second.input_ids[tail:]],
        positions=[*range(len(first.input_ids)), *range(tail, len(second.input_ids))],
        segments=[_PROMPT] * shared
        + [_FIRST] * (len(first.input_ids) - shared)
        + [_SECOND] * (len(second.input_ids) - tail),
        first_mask=[*first.completion_mask, *[0] * (len(second.input_ids) - tail)],
        # the second's first column is never a target: nothing before it in its sequence
        second_mask=[0] * len(first.input_ids) + [0, *second.completion_mask[tail + 1 :]],
        visible=tail,
    )
