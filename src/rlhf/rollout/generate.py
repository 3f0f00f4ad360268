"""Batched generation with a KV cache: prompts in, a `Rollout` out.

One prefill pass over the left-padded prompts (each distinct prompt once: n samples of a prompt
share its keys and values) fills a preallocated KV cache (`rlhf.rollout.cache`); then each step
feeds one token per unfinished row with its position and the padding mask so far, and asks for
the last position's logits only. The passes run on the model's fast path when it has one
(`rlhf.rollout.decoder`: GPT-2 and Llama), else through its own forward; either way, steps at the
full batch multiply the large float32 CPU weights prepacked once per call (`rlhf.models.prepacked`).
`rlhf.rollout.sampling.choose_tokens` picks the token and its log-probability.

Rows that end (an EOS token, or a stop string completed) leave the batch: their cache rows are
dropped, so later steps compute only the rows still going, and the loop ends when none is left or
after `max_new_tokens` steps. A row's response is then right-padded with the pad id; the response
width T is the longest response, at most `max_new_tokens`.

Reproducible: the same model, prompts, settings and generator state give the same rollout. The
sampled tokens depend on the generator only (never torch's global RNG when one is passed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import torch
from torch import Tensor

from rlhf.models.fused import fused_activations
from rlhf.models.prepacked import prepacked_linears
from rlhf.rollout.batch import Rollout, prompt_groups
from rlhf.rollout.cache import generation_cache
from rlhf.rollout.decoder import Decoder, decoder_for
from rlhf.rollout.logprobs import unwrap
from rlhf.rollout.sampling import SamplingConfig, choose_tokens

logger = logging.getLogger(__name__)

__all__ = ["generate", "left_pad"]

_STOP_WINDOW_TOKENS_PER_CHAR = 4
"""Tokens decoded per stop-string character when looking for a stop string: a byte-level BPE can
spend up to 4 tokens on one character."""


def left_pad(
    prompt_ids: Sequence[Sequence[int]], *, pad_token_id: int, device: torch.device | str
) -> tuple[Tensor, Tensor]:
    """Prompts as (ids (B, P), mask (B, P)) int64, padded on the left to the longest prompt."""
    if not prompt_ids or any(len(ids) == 0 for ids in prompt_ids):
        raise ValueError(
            "generate needs at least one prompt and every prompt needs at least one token; "
            "render empty prompts with rlhf.data.tokenize.prompt_ids (it gives the BOS token)."
        )
    width = max(len(ids) for ids in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, prompt in enumerate(prompt_ids):
        ids[row, width - len(prompt) :] = torch.as_tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def generate(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    sampling: SamplingConfig,
    *,
    pad_token_id: int,
    eos_token_id: int | Sequence[int] | None,
    tokenizer: Any = None,
    generator: torch.Generator | None = None,
) -> Rollout:
    """Sample one response per prompt from `model` (a `transformers` causal LM).

    Args:
        model: The policy. Runs in eval mode under `torch.inference_mode()`; its train/eval mode
            is restored afterwards.
        prompt_ids: Token ids of each prompt (e.g. from `rlhf.data.tokenize.prompt_ids`); repeat
            a prompt n times for n samples of it (group sampling).
        sampling: Length, temperature, top-k, top-p and stop strings.
        pad_token_id: Fills the left of short prompts and the right of short responses.
        eos_token_id: Token id(s) that end a response (included in it); None: none do.
        tokenizer: Decodes responses to look for `sampling.stop`; needed only with stop strings.
        generator: Source of randomness for sampling, on the model's device; None uses torch's
            global generator. Unused when greedy.

    Returns:
        The `Rollout`, on the model's device.
    """
    if sampling.stop and tokenizer is None:
        raise ValueError(
            f"SamplingConfig.stop={sampling.stop!r} needs the tokenizer to find stop strings: "
            "pass generate(..., tokenizer=tokenizer)."
        )
    model = unwrap(model)  # generation needs no gradient synchronisation
    device = next(model.parameters()).device
    prompts, prompt_mask = left_pad(prompt_ids, pad_token_id=pad_token_id, device=device)
    eos = _as_ids(eos_token_id, device)
    was_training = model.training
    model.train(False)
    try:
        with (
            torch.inference_mode(),
            fused_activations(model),
            prepacked_linears(model, rows=len(prompt_ids)),
        ):
            rollout = _decode(model, prompts, prompt_mask, sampling, eos, pad_token_id,
                              tokenizer, generator)  # fmt: skip
    finally:
        model.train(was_training)
    # tensors made under inference_mode cannot enter autograd (the PPO loss uses these): copy them
    return replace(rollout, **{f.name: getattr(rollout, f.name).clone() for f in fields(rollout)})


def _as_ids(ids: int | Sequence[int] | None, device: torch.device) -> Tensor:
    values = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return torch.as_tensor(values, dtype=torch.long, device=device)


def _decode(
    model: Any,
    prompts: Tensor,  # (B, P)
    prompt_mask: Tensor,  # (B, P)
    sampling: SamplingConfig,
    eos: Tensor,  # (E,)
    pad_token_id: int,
    tokenizer: Any,
    generator: torch.Generator | None,
) -> Rollout:
    batch, width = prompts.shape
    steps, device = sampling.max_new_tokens, prompts.device
    response_ids = torch.full((batch, steps), pad_token_id, dtype=torch.long, device=device)
    logprobs = torch.zeros((batch, steps), dtype=torch.float32, device=device)
    lengths = torch.full((batch,), steps, dtype=torch.long, device=device)  # (B,)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)  # (B,)
    rows = torch.arange(batch, device=device)  # original row of each row still generating
    mask = torch.cat([prompt_mask, prompt_mask.new_ones((batch, steps))], dim=1)  # (b, P + N)
    positions = (prompt_mask.cumsum(dim=1) - 1).clamp(min=0)  # (B, P)
    decoder = decoder_for(model, capacity=width + steps)
    cache = generation_cache(model.config, capacity=width + steps)
    stop = _StopStrings(tokenizer, sampling.stop) if sampling.stop else None
    can_end = eos.numel() > 0 or stop is not None  # else skip the per-step check (a host sync)

    logits = _prefill(decoder, prompts, prompt_mask, positions, cache)  # (B, V)
    inputs, step_mask, step_positions = prompts, prompt_mask, positions  # what step t > 0 feeds
    for t in range(steps):
        if t > 0:
            logits = decoder(inputs, step_positions, step_mask, cache)  # (b, V)
        tokens, token_logprobs = choose_tokens(logits, sampling, generator)  # (b,)
        response_ids[rows, t] = tokens
        logprobs[rows, t] = token_logprobs
        done = torch.isin(tokens, eos) if can_end else None  # (b,)
        if stop is not None and done is not None:
            done |= stop.completed(response_ids[rows, : t + 1])
        if done is not None and bool(done.any()):
            lengths[rows[done]] = t + 1
            finished[rows[done]] = True
            going = (~done).nonzero().squeeze(1)  # (b',)
            if going.numel() == 0:
                break
            rows, tokens, mask = rows[going], tokens[going], mask[going]
            step_positions = step_positions[going]
            cache.batch_select_indices(going)
        inputs = tokens[:, None]  # (b, 1)
        step_mask = mask[:, : width + t + 1]  # (b, P + t + 1)
        step_positions = step_positions[:, -1:] + 1  # (b, 1)

    width_out = int(lengths.max())
    response_mask = torch.arange(width_out, device=device)[None] < lengths[:, None]  # (B, T)
    return Rollout(
        prompt_ids=prompts,
        prompt_mask=prompt_mask,
        response_ids=response_ids[:, :width_out].contiguous(),
        response_mask=response_mask.long(),
        finished=finished,
        logprobs=logprobs[:, :width_out].contiguous(),
    )


def _prefill(
    decoder: Decoder,
    prompts: Tensor,  # (B, P)
    prompt_mask: Tensor,  # (B, P)
    positions: Tensor,  # (B, P)
    cache: Any,
) -> Tensor:
    """Fill `cache` with the prompts' keys and values; the logits of their last column (B, V).

    Each distinct prompt is computed once: repeated prompts (n samples of a prompt, as group
    sampling asks) get copies of its cache rows and logits, the same values as computing every
    row (a causal model's prompt columns see the prompt alone), for a fraction of the prefill.
    """
    first, inverse = prompt_groups(prompts, prompt_mask)
    if len(first) == len(prompts):  # all distinct: no reordering
        first = inverse = torch.arange(len(prompts), device=prompts.device)
    logits = decoder(prompts[first], positions[first], prompt_mask[first], cache)  # (U, V)
    if len(first) < len(prompts):
        cache.batch_select_indices(inverse)  # (U, ...) -> (B, ...)
    return logits[inverse]


class _StopStrings:
    """Finds rows whose latest token completed one of the stop strings."""

    def __init__(self, tokenizer: Any, stop: tuple[str, ...]) -> None:
        self.tokenizer, self.stop = tokenizer, stop
        self.window = _STOP_WINDOW_TOKENS_PER_CHAR * max(len(s) for s in stop) + 1

    def completed(self, response_ids: Tensor) -> Tensor:
        """(b, t) ids generated so far -> (b,) bool: a stop string ends in the last token.

        Decodes only the last few tokens of each row: a stop string that appears there first
        appeared with the latest token, as earlier steps checked the text before it.
        """
        tails = response_ids[:, -self.window :].tolist()
        texts = self.tokenizer.batch_decode(tails, skip_special_tokens=False)
        hits = [any(s in text for s in self.stop) for text in texts]
        return torch.as_tensor(hits, dtype=torch.bool, device=response_ids.device)
