"""How the next token is chosen: the sampling settings, and pure functions of one step's logits.

A step turns the policy's logits z (B, V) for the next position into a token per row:

    scaled   = z / temperature                      (temperature 1 when greedy)
    logprobs = log_softmax(scaled)                  what the rollout records, before truncation
    filtered = top_p(top_k(scaled))                 -inf outside the kept set
    token    = argmax(scaled)                       greedy (temperature 0)
             ~ softmax(filtered)                    otherwise, drawn with the caller's generator

The recorded log-probability is that of the untruncated, temperature-scaled distribution (the
convention of TRL and OpenRLHF): a training forward pass can recompute exactly that quantity from the
logits alone, whatever top-k/top-p did to the sampling. Top-k then top-p is the order of
`transformers`' logits warpers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "SamplingConfig",
    "choose_tokens",
    "filter_logits",
    "sample",
    "scale_logits",
    "top_k_filter",
    "top_p_filter",
]


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    """How responses are sampled: length, temperature, truncation, stop strings."""

    max_new_tokens: int = 64
    """Most tokens generated per response; a row that reaches it is cut there (not finished)."""

    temperature: float = 1.0
    """Divides the logits before sampling; 0 means greedy (always the most likely token)."""

    top_k: int = 0
    """Sample only among the k most likely tokens; 0 turns it off."""

    top_p: float = 1.0
    """Nucleus sampling: sample among the fewest most likely tokens whose probabilities sum to at
    least top_p; 1.0 turns it off."""

    stop: tuple[str, ...] = ()
    """Strings that end a response (the token completing one is its last token); needs the
    tokenizer. The end-of-sequence token always ends a response."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(
                f"SamplingConfig.max_new_tokens must be at least 1, got {self.max_new_tokens}. "
                "Set it to the longest response you want, e.g. max_new_tokens=64."
            )
        if not self.temperature >= 0:  # also refuses NaN
            raise ValueError(
                f"SamplingConfig.temperature must be >= 0, got {self.temperature}. Use 0 for "
                "greedy decoding and 1.0 to sample from the model's own distribution."
            )
        if self.top_k < 0:
            raise ValueError(
                f"SamplingConfig.top_k must be >= 0, got {self.top_k}. Use 0 to turn top-k off."
            )
        if not 0 < self.top_p <= 1:
            raise ValueError(
                f"SamplingConfig.top_p must be in (0, 1], got {self.top_p}. Use 1.0 to turn "
                "nucleus sampling off."
            )
        stop: object = self.stop  # a bare string would pass as a tuple of characters
        if not isinstance(stop, tuple) or any(not s or not isinstance(s, str) for s in stop):
            raise ValueError(
                f"SamplingConfig.stop must be a tuple of non-empty strings, got {self.stop!r}. "
                'Write stop=("\\n\\n",) for one stop string.'
            )

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (temperature 0): top-k, top-p and the generator are unused."""
        return self.temperature == 0

    @property
    def logprob_temperature(self) -> float:
        """The temperature the recorded log-probs use: `temperature`, or 1 when greedy."""
        return 1.0 if self.greedy else self.temperature


def scale_logits(logits: Tensor, temperature: float) -> Tensor:
    """logits / temperature in float32 (a temperature of 0 counts as 1). Any shape (..., V)."""
    scaled = logits.float()
    if temperature not in (0.0, 1.0):
        scaled = scaled / temperature
    return scaled


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """`logits` (B, V) with all but the k largest of each row set to -inf; k = 0 keeps all.

    Ties at the k-th value are all kept (as in `transformers`' TopKLogitsWarper).
    """
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """`logits` (B, V) keeping, per row, the fewest most likely tokens with total probability >= p.

    Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration". The most likely token is
    always kept; p = 1 keeps all. A token is dropped when the probability of the tokens strictly
    more likely than it (in sorted order) already reaches p.
    """
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above each one
    drop_sorted = before >= p
    drop_sorted[..., 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def filter_logits(logits: Tensor, *, top_k: int, top_p: float) -> Tensor:
    """Top-k, then top-p, as `transformers` orders its warpers: (B, V) -> (B, V)."""
    return top_p_filter(top_k_filter(logits, top_k), top_p)


def sample(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One token per row drawn from softmax(logits): (B, V) -> (B,) int64.

    Inverse-CDF sampling: one uniform u per row, and the token is the first whose cumulative
    probability exceeds u (float32 probabilities, float64 sums: summing V float32 terms in float32
    would let rounding shift the last tokens' share). Tokens of probability 0 (filtered to -inf)
    are never drawn. One random number per row instead of the V that `torch.multinomial` draws
    (its exponential race), which made sampling a sixth of a decoding step on the CPU.
    `generator` must live on the logits' device; None uses torch's global generator.
    """
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    cdf = probs.cumsum(dim=-1, dtype=torch.float64)
    total = cdf[:, -1:].contiguous()  # (B, 1)
    u = torch.rand((probs.shape[0], 1), generator=generator, device=probs.device, dtype=cdf.dtype)
    tokens = torch.searchsorted(cdf, u * total, right=True)  # (B, 1)
    # rounding could put u * total at the very top: stay on the first token where the cdf reaches
    # its total, a token with probability (the cdf rises there), the last one up to rounding
    last = torch.searchsorted(cdf, total)  # (B, 1)
    return torch.minimum(tokens, last).squeeze(-1)


def choose_tokens(
    logits: Tensor, sampling: SamplingConfig, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """The next token of each row and its log-probability (module docstring).

    `logits` (B, V) for the next position, in any float dtype. Returns (tokens (B,) int64,
    logprobs (B,) float32), the log-probs under softmax(logits / temperature) before top-k/top-p.
    """
    scaled = scale_logits(logits, sampling.temperature)  # (B, V) float32
    if sampling.greedy:
        tokens = scaled.argmax(dim=-1)
    else:
        filtered = filter_logits(scaled, top_k=sampling.top_k, top_p=sampling.top_p)
        tokens = sample(filtered, generator)
    # the fused log-softmax kernel: on the CPU half the time of a logsumexp over the vocabulary
    logprobs = torch.log_softmax(scaled, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)  # (B,)
    return tokens, logprobs
