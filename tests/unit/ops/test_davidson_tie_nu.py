"""Davidson's tie parameter as a learnable quantity: its gradient and its tie probability."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.ops.reward_losses import davidson_loss, davidson_tie_probability


def pairs(heads: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    chosen = torch.randn(12, heads, generator=generator, dtype=torch.float64) * 2
    rejected = torch.randn(12, heads, generator=generator, dtype=torch.float64) * 2
    tie = (torch.arange(12) % 3 == 0)[:, None]  # (P, 1), as the reward objective passes it
    return chosen, rejected, tie


def test_gradient_wrt_log_nu_is_expected_minus_observed_ties() -> None:
    chosen, rejected, tie = pairs(heads=2)
    log_nu = torch.tensor([math.log(0.6), math.log(2.0)], dtype=torch.float64, requires_grad=True)
    margin = torch.full((12, 1), 0.3, dtype=torch.float64)
    loss, _ = davidson_loss(chosen, rejected, tie, log_nu=log_nu, margin=margin, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, log_nu)
    # closed form: d loss / d log nu = sum over pairs of P(tie) - 1[tie], per head; P(tie)
    # ignores the margin (it applies to decisive pairs only), so a tied pair's d is r_c - r_r
    expected = []
    for k, nu in enumerate((0.6, 2.0)):
        total = 0.0
        for c, r, t in zip(
            chosen[:, k].tolist(), rejected[:, k].tolist(), tie[:, 0].tolist(), strict=True
        ):
            d = c - r if t else c - r - 0.3
            p_tie = nu / (math.exp(d / 2) + math.exp(-d / 2) + nu)
            total += p_tie - float(t)
        expected.append(total)
    assert gradient.tolist() == pytest.approx(expected, abs=1e-12)


def test_gradcheck_in_float64() -> None:
    chosen, rejected, tie = pairs(heads=2)
    chosen.requires_grad_(True)
    rejected.requires_grad_(True)
    log_nu = torch.tensor([-0.5, 0.7], dtype=torch.float64, requires_grad=True)

    def loss(c: torch.Tensor, r: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
        return davidson_loss(c, r, tie, log_nu=nu, reduction="sum")[0]

    assert torch.autograd.gradcheck(loss, (chosen, rejected, log_nu))
    assert torch.autograd.gradgradcheck(loss, (chosen, rejected, log_nu))


def test_a_scalar_log_nu_is_one_per_head_repeated() -> None:
    chosen, rejected, tie = pairs(heads=3)
    shared, _ = davidson_loss(chosen, rejected, tie, log_nu=0.4, reduction="none")
    per_head, _ = davidson_loss(
        chosen, rejected, tie, log_nu=torch.full((3,), 0.4, dtype=torch.float64), reduction="none"
    )
    assert torch.equal(shared, per_head)


def test_tie_probability_is_nu_over_two_plus_nu_for_equal_rewards() -> None:
    nu = torch.tensor([0.6, 1.0, 2.0], dtype=torch.float64)
    at_equal = davidson_tie_probability(torch.zeros(3, dtype=torch.float64), nu.log())
    assert at_equal.tolist() == pytest.approx((nu / (2 + nu)).tolist(), abs=1e-15)
    d = torch.tensor([[-3.0, 0.5, 4.0]], dtype=torch.float64)  # (1, K) beside (K,) log nu
    expected = [
        n / (math.exp(x / 2) + math.exp(-x / 2) + n)
        for x, n in zip(d[0].tolist(), nu.tolist(), strict=True)
    ]
    assert davidson_tie_probability(d, nu.log())[0].tolist() == pytest.approx(expected, abs=1e-15)
    tie = torch.ones(1, 3, dtype=torch.bool)
    _, metrics = davidson_loss(d, torch.zeros_like(d), tie, log_nu=nu.log(), reduction="none")
    assert torch.allclose(metrics["reward/tie_probability"], davidson_tie_probability(d, nu.log()))
