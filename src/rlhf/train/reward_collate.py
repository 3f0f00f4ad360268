"""Token batches for reward models: every response once, little padding, prompts computed once.

Two layouts of a micro-batch's comparisons, both cut into chunks (`chunk_rows`): the rows are
sorted by length and run in forward passes of at most `max_tokens` padded tokens each, so a short
row is padded to its neighbours' length, not to the longest row of the micro-batch. The model
runs every chunk inside one `forward` call (as data parallelism needs) and returns the rewards in
the responses' order.

- `collate_tokens`: one row per response, `[prompt, response]`, right-padded (any backbone);
- `collate_shared_prefix` (decoders): one row per comparison, `[prompt, response_1, ...,
  response_K]`; response k attends to the prompt and, causally, to itself only, and its positions
  continue from the prompt's end, so the decoder computes for it exactly what it computes for the
  prompt followed by that response alone. The prompt is computed once instead of K times; the
  reward is read at each response's last token.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rlhf.data.comparisons import Comparison
from rlhf.models.reward import pad_token_ids
from rlhf.train.reward_objective import RewardBatch, RewardLossConfig, index_batch

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "TokenizedComparison",
    "chunk_rows",
    "collate_shared_prefix",
    "collate_tokens",
]

DEFAULT_MAX_TOKENS = 1024
"""Padded tokens per forward pass of a chunk."""


@dataclass(frozen=True)
class TokenizedComparison:
    """A comparison whose responses are already token ids (the examples of `fit`)."""

    rows: tuple[tuple[int, ...], ...]
    """Prompt and response ids, one row per response."""
    comparison: Comparison
    prompt_length: int | None = None
    """How many leading ids every row shares (the prompt), for `collate_shared_prefix`."""


def chunk_rows(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Row indexes grouped into chunks: longest first, each chunk's rows x longest <= max_tokens.

    A row longer than `max_tokens` is a chunk of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    chunks: list[list[int]] = []
    for index in order:
        if chunks and (len(chunks[-1]) + 1) * lengths[chunks[-1][0]] <= max_tokens:
            chunks[-1].append(index)
        else:
            chunks.append([index])
    return chunks


def _offsets(examples: Sequence[TokenizedComparison]) -> list[int]:
    return list(itertools.accumulate((len(e.rows) for e in examples), initial=0))[:-1]


def collate_tokens(
    examples: Sequence[TokenizedComparison],
    pad_id: int,
    loss: RewardLossConfig,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> RewardBatch:
    """One right-padded row per response, in length-sorted chunks."""
    rows = [row for example in examples for row in example.rows]
    chunks = chunk_rows([len(row) for row in rows], max_tokens)
    placed = [i for chunk in chunks for i in chunk]  # response index of each output row
    inputs = {
        "chunks": tuple(pad_token_ids([rows[i] for i in chunk], pad_id) for chunk in chunks),
        "order": _inverse(placed),
    }
    indexes = index_batch([e.comparison for e in examples], _offsets(examples), loss)
    return RewardBatch(inputs=inputs, **indexes)


def _inverse(placed: list[int]) -> Tensor:
    """For each response m, where its reward is among the concatenated chunk outputs."""
    order = torch.empty(len(placed), dtype=torch.long)
    order[torch.tensor(placed, dtype=torch.long)] = torch.arange(len(placed))
    return order


def _shared_rows(examples: Sequence[TokenizedComparison], pad_id: int) -> dict[str, Tensor]:
    """Shared-prefix rows (B, T) for these comparisons; rewards read in their responses' order."""
    lengths = []
    for example in examples:
        if example.prompt_length is None:
            raise ValueError("collate_shared_prefix needs TokenizedComparison.prompt_length")
        lengths.append(
            example.prompt_length + sum(len(r) - example.prompt_length for r in example.rows)
        )
    size, width = len(examples), max(lengths)
    ids = torch.full((size, width), pad_id, dtype=torch.long)
    positions = torch.zeros((size, width), dtype=torch.long)
    branch = torch.full((size, width), -1, dtype=torch.long)  # -1 pad, 0 prompt, k+1 response k
    read: list[int] = []
    for b, example in enumerate(examples):
        shared = example.prompt_length or 0
        ids[b, :shared] = torch.tensor(example.rows[0][:shared], dtype=torch.long)
        positions[b, :shared] = torch.arange(shared)
        branch[b, :shared] = 0
        start = shared
        for k, row in enumerate(example.rows):
            end = start + len(row) - shared
            ids[b, start:end] = torch.tensor(row[shared:], dtype=torch.long)
            positions[b, start:end] = torch.arange(shared, shared + end - start)
            branch[b, start:end] = k + 1
            read.append(b * width + end - 1)
            start = end
    causal = torch.ones((width, width), dtype=torch.bool).tril()  # (T, T)
    query, key = branch[:, :, None], branch[:, None, :]  # (B, T, 1), (B, 1, T)
    visible = ((key == query) | (key == 0)) & (key >= 0) & (query >= 0) & causal
    visible |= torch.eye(width, dtype=torch.bool)  # padding attends to itself: finite softmax
    return {
        "input_ids": ids,
        "attention_mask": visible[:, None],  # (B, 1, T, T), True: may attend
        "position_ids": positions,
        "read_positions": torch.tensor(read, dtype=torch.long),
    }


def collate_shared_prefix(
    examples: Sequence[TokenizedComparison],
    pad_id: int,
    loss: RewardLossConfig,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> RewardBatch:
    """One row per comparison (prompt once, then each response), in length-sorted chunks."""
    lengths = [
        (e.prompt_length or 0) + sum(len(r) - (e.prompt_length or 0) for r in e.rows)
        for e in examples
    ]
    chunks = chunk_rows(lengths, max_tokens)
    offsets = _offsets(examples)
    placed = [
        offsets[c] + k for chunk in chunks for c in chunk for k in range(len(examples[c].rows))
    ]
    inputs = {
        "chunks": tuple(_shared_rows([examples[c] for c in chunk], pad_id) for chunk in chunks),
        "order": _inverse(placed),
    }
    indexes = index_batch([e.comparison for e in examples], offsets, loss)
    return RewardBatch(inputs=inputs, **indexes)
