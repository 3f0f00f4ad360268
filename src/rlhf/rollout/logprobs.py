"""Log-probabilities of a rollout's responses under a model, in one full forward pass.

The training side of generation: the PPO/GRPO step recomputes, with gradients, the quantity
`generate` recorded in `Rollout.logprobs`,

    log pi(y_t | x, y_<t) = log_softmax(z_{P-1+t} / temperature)[y_t],   t = 0 .. T-1,

where z_j are the logits at column j of `rollout.sequences` (B, P + T). The forward pass sees
`rollout.attention_mask` and `rollout.position_ids`, so left padding changes nothing, and it runs on
the sequences without their last column: logits at columns P-1 .. P+T-2 are exactly the T that
predict the response (only those are projected onto the vocabulary when the model accepts
`logits_to_keep`, as every `transformers` causal LM does). Under response_mask 0 the values are
meaningless (they predict padding); mask them.

Rows that share a prompt (G samples of it, as GRPO and RLOO draw) run it once: a pass over the
distinct prompts fills a KV cache that the response columns of every row then attend to
(`_shared_prompt_forward`); the same values, with gradients, as the pass over every row.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, NamedTuple, overload

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from transformers import DynamicCache

from rlhf.ops.logprobs import token_logprobs
from rlhf.rollout.batch import Rollout
from rlhf.rollout.sampling import scale_logits

__all__ = ["ResponseForward", "forward_response", "response_logprobs"]


class ResponseForward(NamedTuple):
    """One forward pass over a rollout, restricted to the T columns that predict the response."""

    logprobs: Tensor  # (B, T) float32, log pi(response token t) under logits / temperature
    logits: Tensor  # (B, T, V) the model's logits divided by temperature, float32
    hidden_states: Tensor  # (B, T, H) last layer's hidden states at columns P-1 .. P+T-2


def unwrap(model: Any) -> Any:
    """The model inside a `DistributedDataParallel` wrapper (else `model` itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def keeps_logits(model: Any) -> bool:
    """Whether `model`'s forward takes `logits_to_keep` (through DDP and peft wrappers)."""
    inner = unwrap(model)
    supports = getattr(inner, "_supports_logits_to_keep", None)  # transformers' GenerationMixin
    if callable(supports):
        return bool(supports())
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


class _Columns(NamedTuple):
    logits: Tensor  # (B, T, V) the model's logits at the T columns that predict the response
    hidden_states: Tensor | None  # (B, T, H) last layer's hidden states there, when asked


def _forward(model: Any, rollout: Rollout, *, hidden_states: bool) -> _Columns:
    """The model over sequences[:, :-1], at the T response columns: each distinct prompt once
    (`_shared_prompt_forward`) when prompts repeat, else one pass over every row."""
    first, inverse = rollout.prompt_groups()
    if len(first) < len(rollout):
        return _shared_prompt_forward(model, rollout, first, inverse, hidden_states=hidden_states)
    return _forward_every_row(model, rollout, hidden_states=hidden_states)


def _forward_every_row(model: Any, rollout: Rollout, *, hidden_states: bool) -> _Columns:
    """The model over every row's sequences[:, :-1], at the T response columns."""
    steps = int(rollout.response_ids.shape[1])
    inputs = {
        "input_ids": rollout.sequences[:, :-1],  # (B, P + T - 1)
        "attention_mask": rollout.attention_mask[:, :-1],
        "position_ids": rollout.position_ids[:, :-1],
        "use_cache": False,
    }
    if hidden_states:
        inputs["output_hidden_states"] = True
    if keeps_logits(model):
        inputs["logits_to_keep"] = steps
        if not torch.is_grad_enabled():
            # the columns as indices: the model gathers them into a contiguous (B, T, H) tensor and
            # runs its LM head as one matrix product; the int form hands it a strided view, which
            # torch then multiplies as a batched product over an expanded weight (slower on CPU).
            # Under grad torch copies the view itself, and a slice has the cheaper backward.
            width = int(rollout.sequences.shape[1]) - 1
            columns = torch.arange(width - steps, width, device=rollout.sequences.device)
            inputs["logits_to_keep"] = columns
    output = model(**inputs)
    hidden = output.hidden_states[-1][:, -steps:] if hidden_states else None
    return _Columns(_response_columns(output.logits, steps), hidden)


def _shared_prompt_forward(
    model: Any, rollout: Rollout, first: Tensor, inverse: Tensor, *, hidden_states: bool
) -> _Columns:
    """`_forward` with each distinct prompt computed once, for rows that share prompts.

    A causal model's keys and values over the prompt columns depend on the prompt alone, so one
    pass over the U distinct prompts (rows `first`) fills a KV cache with their columns 0 .. P-2,
    whose rows are then repeated for the B responses (`inverse`), and a second pass runs every
    row's columns P-1 .. P+T-2 (the last prompt token, then the response but its last token) on
    top of it: exactly the T columns that predict the response, so their logits come out of one
    LM head product, with no concatenation. The same function as one pass over every row (equal
    to float rounding, tested), with (B - U) * (P - 1) fewer positions through the trunk: a group
    of G samples of a P-token prompt saves nearly (G - 1) / G of its prompt columns. Gradients
    flow into the prompt pass through the repeated keys and values. A one-token prompt has nothing
    to share: one pass over every row.
    """
    prompt = rollout.prompt_length
    if prompt < 2:
        return _forward_every_row(model, rollout, hidden_states=hidden_states)
    cache = DynamicCache(config=unwrap(model).config)
    prompt_mask = rollout.prompt_mask[first, :-1]  # (U, P - 1)
    model(
        input_ids=rollout.prompt_ids[first, :-1],  # (U, P - 1)
        attention_mask=prompt_mask,
        position_ids=(prompt_mask.cumsum(dim=1) - 1).clamp(min=0),
        past_key_values=cache,
        use_cache=True,
        **({"logits_to_keep": 1} if keeps_logits(model) else {}),  # the cache is what counts
    )
    cache.batch_select_indices(inverse)  # (U, ...) -> (B, ...) per layer
    tail = model(
        input_ids=rollout.sequences[:, prompt - 1 : -1],  # (B, T)
        attention_mask=rollout.attention_mask[:, :-1],  # (B, P + T - 1)
        position_ids=rollout.position_ids[:, prompt - 1 : -1],
        past_key_values=cache,
        use_cache=True,
        **({"output_hidden_states": True} if hidden_states else {}),
    )
    return _Columns(tail.logits, tail.hidden_states[-1] if hidden_states else None)


def _response_columns(logits: Tensor, steps: int) -> Tensor:
    """The last `steps` columns of `logits` (B, L, V); the tensor itself when it has just those
    (a slice of all columns would still cost a zero-filled copy in the backward pass)."""
    return logits if logits.shape[1] == steps else logits[:, -steps:]


def forward_response(model: Any, rollout: Rollout, *, temperature: float = 1.0) -> ResponseForward:
    """Log-probs, logits and last hidden states of the response columns, from one forward pass.

    For a policy with a value head on the same trunk: the value of the state before response
    token t is `value_head(hidden_states[:, t])` (B, T), aligned with `logprobs`, and the entropy
    of the sampling distribution comes from `logits`. Differentiable; call under `torch.no_grad()`
    for a frozen reference. `temperature` must be the one the rollout was sampled with (1 for
    greedy: `SamplingConfig.logprob_temperature`).
    """
    columns = _forward(model, rollout, hidden_states=True)
    logits = scale_logits(columns.logits, temperature)  # (B, T, V)
    logprobs = token_logprobs(logits, rollout.response_ids)  # (B, T)
    assert columns.hidden_states is not None
    return ResponseForward(logprobs=logprobs, logits=logits, hidden_states=columns.hidden_states)


@overload
def response_logprobs(
    model: Any,
    rollout: Rollout,
    *,
    temperature: float = ...,
    return_logits_entropy: Literal[False] = ...,
) -> Tensor: ...


@overload
def response_logprobs(
    model: Any, rollout: Rollout, *, temperature: float = ..., return_logits_entropy: Literal[True]
) -> tuple[Tensor, Tensor]: ...


def response_logprobs(
    model: Any, rollout: Rollout, *, temperature: float = 1.0, return_logits_entropy: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """log pi(response token t) for every row and step, (B, T) float32 (module docstring).

    With `return_logits_entropy=True` also the entropy of softmax(logits / temperature) at each
    response step, -sum_v p_v log p_v, (B, T) float32: returns (logprobs, entropy).
    Differentiable: the PPO step calls it under grad for the policy, under no_grad for the
    reference.
    """
    logits = _forward(model, rollout, hidden_states=False).logits  # (B, T, V)
    if temperature not in (0.0, 1.0) or return_logits_entropy:
        logits = scale_logits(logits, temperature)
    logprobs = token_logprobs(logits, rollout.response_ids)  # (B, T)
    if not return_logits_entropy:
        return logprobs.float()
    log_p = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)  # (B, T)
    return logprobs.float(), entropy
