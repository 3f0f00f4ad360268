"""Log-probabilities of given tokens under a language model's logits.

`token_logprobs` is the memory-lean form of `log_softmax(logits).gather(labels)`: it never builds
the (B, T, V) log-softmax. It takes the positions a chunk at a time, and of each chunk's
log-softmax keeps only the label's entry,

    log pi(y_t) = log_softmax(z_t)[y_t] = z_t[y_t] - log sum_v exp(z_t[v]),

so the only temporaries are one chunk's log-softmax (in float32 when the logits are bf16/fp16) and
the (B, T) result. Its backward pass recomputes the softmax chunk by chunk from the saved logits
instead of keeping a float32 copy of them alive between forward and backward:

    d log pi(y_t) / d z_t[v] = 1[v = y_t] - softmax(z_t)[v].

Both passes use torch's fused (log-)softmax kernels, which handle a row while it is in cache: on
the CPU (1,024 positions of 4,096 logits, one thread) `log_softmax` takes 2.9 ms where `logsumexp`
takes 5.4 ms, and `softmax` 2.6 ms where exp(z - logsumexp) took 8.8 ms.

Shift convention, used by `sequence_logprobs` and `completion_lengths`: the logits at position t
predict the token at position t + 1. `logits`, `labels` (the input ids) and `mask` all come
unshifted, aligned with the input ids; the *labels and mask* shift left by one (label t + 1 and
mask t + 1 are paired with logits t) and the last position, which predicts nothing, is dropped.
The logits are never sliced, so no copy of them is made.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rlhf.ops.masked import masked_sum

__all__ = [
    "completion_lengths",
    "default_chunk_rows",
    "segment_logprobs",
    "sequence_logprobs",
    "token_logprobs",
]

CHUNK_ELEMENTS = 1 << 24
"""Logits handled at once by `token_logprobs` and `entropy_from_logits` on an accelerator: 2^24
(64 MiB as float32), few enough chunks that kernel launches do not add up."""

CPU_CHUNK_ELEMENTS = 1 << 18
"""The same on the CPU: 2^18 (1 MiB as float32), a chunk that stays in a core's cache between the
passes over it (softmax, gather, dot product) instead of streaming through memory once per pass.
Measured against 2^24 on 512 positions in float32, one thread (`benchmarks/cpu_kernels.py`):
`token_logprobs` forward and backward 2.0x faster with GPT-2's 50,257 logits per position,
`entropy_from_logits` 4.2x; 1.5x and 2.2x with 4,096."""


def default_chunk_rows(logits: Tensor) -> int:
    """Positions per chunk for `logits` (..., V): `CPU_CHUNK_ELEMENTS` or `CHUNK_ELEMENTS` logits."""
    elements = CPU_CHUNK_ELEMENTS if logits.device.type == "cpu" else CHUNK_ELEMENTS
    return max(1, elements // logits.shape[-1])


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision logits (logsumexp in bf16 loses ~2 digits), else unchanged."""
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


def _chunks(rows: int, chunk_rows: int) -> list[slice]:
    return [slice(start, min(start + chunk_rows, rows)) for start in range(0, rows, chunk_rows)]


class _TokenLogprobs(torch.autograd.Function):
    """log_softmax(logits).gather(labels), chunked over rows, with a recomputing backward."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, labels: Tensor, chunk_rows: int) -> Tensor:
        # logits: (N, V), labels: (N,)
        dtype = _compute_dtype(logits.dtype)
        picked = torch.empty(logits.shape[0], dtype=dtype, device=logits.device)  # (N,)
        for rows in _chunks(logits.shape[0], chunk_rows):
            log_p = torch.log_softmax(logits[rows], dim=-1, dtype=dtype)  # (n, V)
            picked[rows] = log_p.gather(-1, labels[rows, None]).squeeze(-1)
        ctx.save_for_backward(logits, labels)
        ctx.chunk_rows, ctx.dtype = chunk_rows, dtype
        return picked

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None, None]:
        logits, labels = ctx.saved_tensors

        def grad_of(rows: slice) -> Tensor:
            softmax = torch.softmax(logits[rows], dim=-1, dtype=ctx.dtype)  # (n, V)
            grad = softmax.mul_(-grad_output[rows, None])  # -g * softmax
            return grad.scatter_add_(-1, labels[rows, None], grad_output[rows, None])  # + g onehot

        chunks = _chunks(logits.shape[0], ctx.chunk_rows)
        if len(chunks) == 1:  # all rows at once: no (N, V) buffer to copy the gradient into
            return grad_of(chunks[0]).to(logits.dtype), None, None
        grad_logits = torch.empty_like(logits)  # (N, V)
        for rows in chunks:
            grad_logits[rows] = grad_of(rows)
        return grad_logits, None, None


def token_logprobs(logits: Tensor, labels: Tensor, *, chunk_rows: int | None = None) -> Tensor:
    """log softmax(logits)[labels] at every position, without building the log-softmax.

    Shapes: `logits` (B, T, V) and `labels` (B, T) are *aligned* (logits[b, t] is the
    distribution of labels[b, t]; no shift here, see `sequence_logprobs`); labels lie in [0, V).
    Returns (B, T) in float32 for bf16/fp16 logits, else in the logits' dtype.

    `chunk_rows` positions are processed at once (default: `default_chunk_rows`); contiguous
    logits are not copied, strided ones are copied once by `reshape`.
    """
    vocab = logits.shape[-1]
    rows = chunk_rows if chunk_rows is not None else default_chunk_rows(logits)
    flat_logits, flat_labels = logits.reshape(-1, vocab), labels.reshape(-1).long()
    # torch leaves Function.apply untyped
    flat = _TokenLogprobs.apply(flat_logits, flat_labels, rows)  # type: ignore[no-untyped-call]
    return cast(Tensor, flat).view(labels.shape)  # (B, T)


def _next_token(tensor: Tensor, fill: int) -> Tensor:
    """tensor[:, t + 1] at position t, and `fill` at the last position: (B, T) -> (B, T)."""
    return torch.cat([tensor[:, 1:], torch.full_like(tensor[:, :1], fill)], dim=1)


def completion_lengths(mask: Tensor) -> Tensor:
    """Completion tokens that `sequence_logprobs` sums over: mask[:, 1:].sum(-1).

    `mask` (B, T), aligned with the input ids; returns (B,) in the mask's dtype (the first token
    has no logits predicting it, so it never counts).
    """
    return mask[:, 1:].sum(dim=-1)


def sequence_logprobs(
    logits: Tensor, labels: Tensor, mask: Tensor, *, average: bool = False
) -> Tensor:
    """log pi(y | x) = sum_t mask_t * log pi(y_t | y_<t, x), over completion tokens only.

    Shapes: `logits` (B, T, V) straight from the model for the input ids `labels` (B, T);
    `mask` (B, T) marks completion tokens with 1 (prompt and padding 0), aligned with `labels`.
    Logits t predict label t + 1 (module docstring): labels and mask shift, logits do not.
    Labels under mask 0 are ignored and may be anything (-100, pad ids).

    `average=True` divides by the number of completion tokens (`completion_lengths`), the
    length-normalized log-probability of SimPO (Meng et al. 2024); an empty completion gives 0.
    Returns (B,) in float32 for bf16/fp16 logits, else in the logits' dtype.
    """
    next_mask = _next_token(mask, 0)  # (B, T)
    next_labels = torch.where(next_mask.bool(), _next_token(labels, 0), 0)  # (B, T)
    logprobs = token_logprobs(logits, next_labels)  # (B, T)
    total = masked_sum(logprobs, next_mask, dim=-1)  # (B,)
    if not average:
        return total
    return total / next_mask.sum(dim=-1).clamp(min=1).to(total.dtype)


def segment_logprobs(logits: Tensor, labels: Tensor, masks: Tensor) -> Tensor:
    """`sequence_logprobs` for several masks over the same logits, in one pass over the vocabulary.

    Shapes: `logits` (B, T, V) and `labels` (B, T) as in `sequence_logprobs`; `masks` (S, B, T),
    mask s marking the tokens of segment s of each row (e.g. a chosen and a rejected response that
    share a row). Returns (S, B): entry [s, b] = sum_t masks[s, b, t] * log pi(labels[b, t] |
    logits[b, t - 1]), i.e. `sequence_logprobs(logits, labels, masks[s])[b]`. Labels under no
    mask are ignored.
    """
    next_masks = torch.cat([masks[..., 1:], torch.zeros_like(masks[..., :1])], dim=-1)  # (S, B, T)
    next_labels = torch.where(next_masks.bool().any(0), _next_token(labels, 0), 0)  # (B, T)
    logprobs = token_logprobs(logits, next_labels)  # (B, T)
    return masked_sum(logprobs, next_masks, dim=-1)  # (S, B)
