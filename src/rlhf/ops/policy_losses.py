"""PPO's per-token losses, the entropy of the policy, and the metrics logged beside them.

The losses return per-token (B, T) tensors, unreduced and unmasked: the trainer multiplies by the
mask, sums, and divides by the number of real tokens of the whole global batch, which makes
gradient accumulation and DDP exact (a per-row or per-minibatch mean would weight tokens unevenly).
Signs: each is a loss to *minimize*. The metric helpers (`clip_fraction`, `approx_kl`,
`explained_variance`) return detached scalar tensors, masked means over the real tokens of their
inputs; the trainer averages them across minibatches and ranks.

Notation: ratio rho_t = pi(y_t) / pi_old(y_t) = exp(logprobs - old_logprobs), A_t the advantage,
eps = `clip_eps` (0.2 in lm-human-preferences, TRL, CleanRL).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rlhf.ops.kl import kl_penalty
from rlhf.ops.logprobs import _chunks, _compute_dtype, default_chunk_rows
from rlhf.ops.masked import masked_mean, masked_var

__all__ = [
    "approx_kl",
    "clip_fraction",
    "entropy_from_logits",
    "explained_variance",
    "ppo_policy_loss",
    "ppo_value_loss",
]


def ppo_policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    *,
    clip_eps: float,
    dual_clip: float | None = None,
) -> Tensor:
    """PPO's clipped surrogate (Schulman et al. 2017, arXiv:1707.06347), as a loss per token.

        L_t = max(-A_t * rho_t, -A_t * clip(rho_t, 1 - eps, 1 + eps))

    Dual clip (Ye et al. 2020, arXiv:1912.09729), for `dual_clip` = c > 1: where A_t < 0 the loss
    is also capped at -A_t * c, so a token whose ratio has exploded cannot dominate the batch:

        L_t = min(L_t, -A_t * c)   if A_t < 0

    Shapes: `logprobs` (B, T) with gradient, `old_logprobs` (B, T) from the rollout (detached),
    `advantages` (B, T), or (B, 1) for a per-sequence advantage (GRPO, RLOO). Returns (B, T).
    """
    if clip_eps <= 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
    if dual_clip is not None and dual_clip <= 1:
        raise ValueError(f"dual_clip must be > 1 (a cap on the ratio for A < 0), got {dual_clip}")
    ratio = torch.exp(logprobs - old_logprobs)  # (B, T)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    loss = torch.maximum(unclipped, clipped)  # (B, T)
    if dual_clip is not None:
        loss = torch.where(advantages < 0, torch.minimum(loss, -advantages * dual_clip), loss)
    return loss


def ppo_value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, *, clip_eps: float | None = None
) -> Tensor:
    """The value loss of PPO, clipped around the rollout's values as in lm-human-preferences.

        L_t = 0.5 * max((V_t - R_t)^2, (clip(V_t, V_old_t - eps, V_old_t + eps) - R_t)^2)

    or 0.5 * (V_t - R_t)^2 when `clip_eps` is None. eps is in reward units (0.2 in
    lm-human-preferences and TRL); clipping is off by default because Engstrom et al. 2020
    (arXiv:2005.12729) and Andrychowicz et al. 2021 (arXiv:2006.05990) found it no help or harmful.
    Shapes: `values` (B, T) with gradient, `old_values` and `returns` (B, T). Returns (B, T).
    """
    unclipped = (values - returns).square()  # (B, T)
    if clip_eps is None:
        return 0.5 * unclipped
    if clip_eps <= 0:
        raise ValueError(f"clip_eps must be > 0 or None, got {clip_eps}")
    clipped_values = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
    return 0.5 * torch.maximum(unclipped, (clipped_values - returns).square())


class _Entropy(torch.autograd.Function):
    """H(softmax(logits)) per row, chunked over rows, with a recomputing backward."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, chunk_rows: int) -> Tensor:
        # logits: (N, V)
        dtype = _compute_dtype(logits.dtype)
        entropy = torch.empty(logits.shape[0], dtype=dtype, device=logits.device)  # (N,)
        lowest = torch.finfo(dtype).min
        for rows in _chunks(logits.shape[0], chunk_rows):
            # -inf logits get log p = lowest (not -inf), so p log p is 0 * lowest = 0, not NaN;
            # one fused dot product per row instead of a masked product and a sum; p from the
            # fused softmax kernel, faster on the CPU than exp(log p)
            log_p = torch.log_softmax(logits[rows], dim=-1, dtype=dtype).clamp_(min=lowest)
            p = torch.softmax(logits[rows], dim=-1, dtype=dtype)
            entropy[rows] = -torch.linalg.vecdot(p, log_p)
        ctx.save_for_backward(logits, entropy)
        ctx.chunk_rows = chunk_rows
        return entropy

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        # dH/dz_v = -p_v * (log p_v + H)
        logits, entropy = ctx.saved_tensors
        grad_logits = torch.empty_like(logits)  # (N, V)
        for rows in _chunks(logits.shape[0], ctx.chunk_rows):
            log_p = torch.log_softmax(logits[rows], dim=-1, dtype=entropy.dtype)
            p = torch.softmax(logits[rows], dim=-1, dtype=entropy.dtype)
            grad = torch.where(p > 0, p * (log_p + entropy[rows, None]), 0.0)
            grad_logits[rows] = grad.mul_(-grad_output[rows, None])
        return grad_logits, None


def entropy_from_logits(logits: Tensor, *, chunk_rows: int | None = None) -> Tensor:
    """Entropy of the next-token distribution at every position, in nats.

        H_t = -sum_v p_t(v) log p_t(v),   p_t = softmax(logits_t)

    Memory-lean like `token_logprobs`: `chunk_rows` positions at a time (default:
    `rlhf.ops.logprobs.default_chunk_rows`), the backward recomputes the softmax chunk by chunk
    from the saved logits (dH/dz_v = -p_v (log p_v + H)); it never holds a (B, T, V) float32
    copy. Logits of -inf (masked vocabulary) are allowed. Shapes: `logits` (B, T, V) -> (B, T),
    float32 for bf16/fp16 logits, else their dtype. Differentiable (once): usable as an entropy
    bonus.
    """
    vocab = logits.shape[-1]
    rows = chunk_rows if chunk_rows is not None else default_chunk_rows(logits)
    # torch leaves Function.apply untyped
    flat = _Entropy.apply(logits.reshape(-1, vocab), rows)  # type: ignore[no-untyped-call]
    return cast(Tensor, flat).view(logits.shape[:-1])  # (B, T)


def clip_fraction(
    logprobs: Tensor,
    old_logprobs: Tensor,
    mask: Tensor,
    *,
    clip_eps: float,
    advantages: Tensor | None = None,
) -> Tensor:
    """Fraction of real tokens the clip acts on: a metric, detached.

    Without `advantages`: the share with |rho_t - 1| > eps (CleanRL's `clipfracs`). With them:
    the share whose gradient the clip removes, (rho_t > 1 + eps and A_t > 0) or (rho_t < 1 - eps
    and A_t < 0) (TRL's GRPO `clip_ratio`). Shapes: (B, T) inputs ((B, 1) advantages allowed);
    returns a scalar.
    """
    ratio = torch.exp(logprobs.detach() - old_logprobs.detach())  # (B, T)
    if advantages is None:
        clipped = (ratio - 1.0).abs() > clip_eps
    else:
        high = (ratio > 1.0 + clip_eps) & (advantages > 0)
        low = (ratio < 1.0 - clip_eps) & (advantages < 0)
        clipped = high | low
    return masked_mean(clipped.to(ratio.dtype), mask)


def approx_kl(logprobs: Tensor, old_logprobs: Tensor, mask: Tensor) -> Tensor:
    """KL(pi_old || pi) per token by k3 on the rollout's tokens (sampled from pi_old), detached.

        mean_t [(rho_t - 1) - log rho_t]   over real tokens (Schulman 2020; CleanRL's approx_kl)

    The usual early-stopping signal of a PPO epoch. Shapes: (B, T) inputs; returns a scalar.
    """
    per_token = kl_penalty(old_logprobs.detach(), logprobs.detach(), "k3")  # (B, T)
    return masked_mean(per_token, mask)


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> Tensor:
    """1 - Var(R - V) / Var(R) over the real entries: how much of the returns the critic explains.

    1 is perfect, 0 is no better than a constant, < 0 worse. NaN when Var(R) = 0 (undefined, as in
    CleanRL and Stable-Baselines3). Shapes: (B, T) inputs; returns a detached scalar.
    """
    values, returns = values.detach(), returns.detach()
    returns_variance = masked_var(returns, mask)
    ratio = masked_var(returns - values, mask) / returns_variance
    return torch.where(returns_variance > 0, 1.0 - ratio, torch.nan)
