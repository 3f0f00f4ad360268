"""The token-choice functions against naive references, and the sampling settings' validation."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.rollout.sampling import (
    SamplingConfig,
    choose_tokens,
    filter_logits,
    sample,
    top_k_filter,
    top_p_filter,
)


def naive_top_p(logits: list[float], p: float) -> set[int]:
    """The fewest most likely tokens whose probabilities sum to at least p."""
    total = sum(math.exp(z) for z in logits)
    probs = [math.exp(z) / total for z in logits]
    kept: set[int] = set()
    mass = 0.0
    for index in sorted(range(len(probs)), key=lambda i: -probs[i]):
        kept.add(index)
        mass += probs[index]
        if mass >= p:
            break
    return kept


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8, 0.95, 0.999])
def test_top_p_matches_a_naive_loop(p: float) -> None:
    logits = torch.randn(16, 50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    filtered = top_p_filter(logits, p)
    for row, kept_row in zip(logits, filtered, strict=True):
        kept = set(torch.isfinite(kept_row).nonzero().flatten().tolist())
        assert kept == naive_top_p(row.tolist(), p)
        assert torch.equal(kept_row[list(kept)], row[list(kept)])


def test_top_p_one_keeps_everything_and_tiny_p_keeps_the_argmax() -> None:
    logits = torch.randn(4, 10)
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    kept = torch.isfinite(top_p_filter(logits, 1e-9))
    assert torch.equal(kept.nonzero()[:, 1], logits.argmax(-1))


def test_top_k_keeps_the_k_largest() -> None:
    logits = torch.randn(8, 30)
    filtered = top_k_filter(logits, 5)
    for row, kept_row in zip(logits, filtered, strict=True):
        kept = set(torch.isfinite(kept_row).nonzero().flatten().tolist())
        assert kept == set(row.topk(5).indices.tolist())
    assert torch.equal(top_k_filter(logits, 0), logits)


def test_filter_applies_top_k_before_top_p() -> None:
    logits = torch.tensor([[3.0, 2.9, 2.8, 0.0, -1.0]])
    # top-2 leaves [3.0, 2.9], whose renormalized mass reaches 0.5 with the first alone
    kept = torch.isfinite(filter_logits(logits, top_k=2, top_p=0.5))
    assert kept.tolist() == [[True, False, False, False, False]]


def test_greedy_and_top_k_one_pick_the_argmax() -> None:
    logits = torch.randn(32, 100)
    greedy, greedy_logprobs = choose_tokens(logits, SamplingConfig(temperature=0), None)
    top1, top1_logprobs = choose_tokens(
        logits, SamplingConfig(top_k=1), torch.Generator().manual_seed(0)
    )
    assert torch.equal(greedy, logits.argmax(-1))
    assert torch.equal(top1, greedy)
    expected = torch.log_softmax(logits, -1).gather(-1, greedy[:, None]).squeeze(-1)
    torch.testing.assert_close(greedy_logprobs, expected)
    # the recorded log-prob is before truncation, so top-k=1 does not make it 0
    torch.testing.assert_close(top1_logprobs, expected)


def test_logprobs_use_the_temperature_before_truncation() -> None:
    logits = torch.randn(64, 20)
    sampling = SamplingConfig(temperature=0.7, top_k=5, top_p=0.9)
    tokens, logprobs = choose_tokens(logits, sampling, torch.Generator().manual_seed(0))
    expected = torch.log_softmax(logits / 0.7, -1).gather(-1, tokens[:, None]).squeeze(-1)
    torch.testing.assert_close(logprobs, expected)
    assert logprobs.dtype == torch.float32


@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, 0), (0.6, 0), (1.5, 3)])
def test_sampled_frequencies_match_the_softmax(temperature: float, top_k: int) -> None:
    logits = torch.tensor([1.0, 0.5, 0.0, -0.5, -1.0, 0.2])
    draws = 40_000
    sampling = SamplingConfig(temperature=temperature, top_k=top_k)
    tokens, _ = choose_tokens(logits.expand(draws, -1), sampling, torch.Generator().manual_seed(3))
    scaled = logits / temperature
    if top_k:
        scaled = top_k_filter(scaled[None], top_k)[0]
    expected = torch.softmax(scaled, -1) * draws
    observed = torch.bincount(tokens, minlength=len(logits)).double()
    support = expected > 0
    assert observed[~support].sum() == 0
    chi_square = ((observed - expected)[support] ** 2 / expected[support]).sum()
    # 99.9% quantile of chi-square with at most 5 degrees of freedom is 20.5
    assert chi_square < 20.5


def test_seeded_sampling_is_reproducible() -> None:
    logits = torch.randn(16, 50)
    sampling = SamplingConfig()
    first, _ = choose_tokens(logits, sampling, torch.Generator().manual_seed(5))
    again, _ = choose_tokens(logits, sampling, torch.Generator().manual_seed(5))
    other, _ = choose_tokens(logits, sampling, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize(
    ("field", "value", "fix"),
    [
        ("max_new_tokens", 0, "max_new_tokens=64"),
        ("temperature", -1.0, "0 for greedy"),
        ("temperature", float("nan"), "0 for greedy"),
        ("top_k", -1, "0 to turn top-k off"),
        ("top_p", 0.0, "1.0 to turn"),
        ("top_p", 1.5, "1.0 to turn"),
        ("stop", ("",), "stop=("),
        ("stop", "\n", "stop=("),
    ],
)
def test_config_refuses_bad_values_and_says_the_fix(field: str, value: object, fix: str) -> None:
    with pytest.raises(ValueError, match=field) as error:
        SamplingConfig(**{field: value})  # type: ignore[arg-type]
    assert fix in str(error.value)


def test_greedy_property_and_logprob_temperature() -> None:
    assert SamplingConfig(temperature=0).greedy
    assert SamplingConfig(temperature=0).logprob_temperature == 1.0
    assert SamplingConfig(temperature=0.5).logprob_temperature == 0.5


def test_a_draw_at_the_very_top_stays_on_a_token_with_probability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """u * total can round up to the total: the draw then falls on the last likely token."""
    logits = torch.full((3, 10), float("-inf"))
    logits[0, :4] = 0.0  # tokens 0-3 possible, 4-9 filtered out
    logits[1, [2, 7]] = 1.0
    logits[2, 9] = 0.0

    def top(shape: tuple[int, ...], *, generator: object, **kwargs: object) -> torch.Tensor:
        return torch.ones(shape, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(torch, "rand", top)
    assert sample(logits, None).tolist() == [3, 7, 9]
