"""The DPO family on a 2-pair example worked by hand, its gradients, and the loss table.

The example, with summed log-probabilities and completion lengths:

    pair  log pi(y_w)  log pi(y_l)  log pi_ref(y_w)  log pi_ref(y_l)  |y_w|  |y_l|
    1       -1.0         -2.0          -1.5             -1.5            2      4
    2       -3.0         -2.0          -2.0             -2.5            4      5

so h = (log-ratio of y_w) - (log-ratio of y_l) = (0.5 - (-0.5), -1.0 - 0.5) = (1.0, -1.5), and the
per-token averaged h of IPO is (0.5/2 - (-0.5)/4, -1.0/4 - 0.5/5) = (0.375, -0.35). The expected
values below were computed with Python's `math` module from the formulas in the comments
(log sigma(x) = -log(1 + exp(-x))).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from rlhf.ops import (
    PREFERENCE_LOSSES,
    REFERENCE_FREE,
    LossHyper,
    PreferenceLogps,
    dpo_loss,
    hinge_loss,
    ipo_loss,
    robust_dpo_loss,
    rpo_nll_term,
    simpo_loss,
)

CHOSEN = torch.tensor([-1.0, -3.0], dtype=torch.float64)
REJECTED = torch.tensor([-2.0, -2.0], dtype=torch.float64)
REF_CHOSEN = torch.tensor([-1.5, -2.0], dtype=torch.float64)
REF_REJECTED = torch.tensor([-1.5, -2.5], dtype=torch.float64)
CHOSEN_LENGTHS = torch.tensor([2, 4])
REJECTED_LENGTHS = torch.tensor([4, 5])
PAIR = (CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED)
LENGTHS = {"chosen_lengths": CHOSEN_LENGTHS, "rejected_lengths": REJECTED_LENGTHS}


def test_dpo_by_hand() -> None:
    # mean(-log sigma(0.1 * 1.0), -log sigma(0.1 * -1.5))
    loss, _ = dpo_loss(*PAIR, beta=0.1)
    assert loss.item() == pytest.approx(0.7076768539315514, abs=1e-12)


def test_conservative_dpo_by_hand() -> None:
    # mean over h of -(1 - 0.1) log sigma(0.1 h) - 0.1 log sigma(-0.1 h)
    loss, _ = dpo_loss(*PAIR, beta=0.1, label_smoothing=0.1)
    assert loss.item() == pytest.approx(0.7051768539315515, abs=1e-12)


def test_robust_dpo_by_hand() -> None:
    # mean over h of [-(1 - 0.1) log sigma(0.1 h) + 0.1 log sigma(-0.1 h)] / (1 - 0.2)
    loss, _ = robust_dpo_loss(*PAIR, beta=0.1, label_smoothing=0.1)
    assert loss.item() == pytest.approx(0.7108018539315515, abs=1e-12)


def test_hinge_by_hand() -> None:
    # mean(max(0, 1 - 2 * 1.0), max(0, 1 - 2 * -1.5)) = mean(0, 4): the first pair is past the margin
    loss, _ = hinge_loss(*PAIR, beta=2.0)
    assert loss.item() == pytest.approx(2.0, abs=1e-12)


def test_ipo_by_hand() -> None:
    # mean((0.375 - 1 / 0.2)^2, (-0.35 - 1 / 0.2)^2) = mean(21.390625, 28.6225)
    loss, _ = ipo_loss(*PAIR, **LENGTHS, beta=0.1)
    assert loss.item() == pytest.approx(25.0065625, abs=1e-12)


def test_simpo_by_hand() -> None:
    # rewards 2 * log pi / |y|: chosen (-1.0, -1.5), rejected (-1.0, -0.8);
    # mean(-log sigma(-1.0 + 1.0 - 0.5), -log sigma(-1.5 + 0.8 - 0.5))
    loss, metrics = simpo_loss(CHOSEN, REJECTED, **LENGTHS, beta=2.0, gamma=0.5)
    assert loss.item() == pytest.approx(1.218679725759069, abs=1e-12)
    assert metrics["rewards/chosen"].tolist() == pytest.approx([-1.0, -1.5])
    assert metrics["rewards/rejected"].tolist() == pytest.approx([-1.0, -0.8])
    assert metrics["rewards/accuracy"].tolist() == [0.0, 0.0]  # a tie is not a win


def test_rpo_nll_term_by_hand() -> None:
    # 0.5 * mean(1.0 / 2, 3.0 / 4)
    assert rpo_nll_term(CHOSEN, CHOSEN_LENGTHS, alpha=0.5).item() == pytest.approx(0.3125)
    assert rpo_nll_term(CHOSEN, CHOSEN_LENGTHS, alpha=0.0).item() == 0.0


def test_sequence_level_ipo_takes_lengths_of_one() -> None:
    ones = torch.ones(2)
    loss, _ = ipo_loss(*PAIR, chosen_lengths=ones, rejected_lengths=ones, beta=0.1)
    expected = ((1.0 - 5.0) ** 2 + (-1.5 - 5.0) ** 2) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-12)


REFERENCE_LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, Tensor]]]] = {
    "sigmoid": dpo_loss,
    "robust": robust_dpo_loss,
    "hinge": hinge_loss,
    "ipo": lambda *pair, beta: ipo_loss(*pair, **LENGTHS, beta=beta),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_LOSSES))
def test_implicit_reward_metrics_by_hand(name: str) -> None:
    # beta (log pi - log pi_ref) on summed log-probabilities, whatever the loss
    _, metrics = REFERENCE_LOSSES[name](*PAIR, beta=0.1)
    assert set(metrics) == {
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margin",
        "rewards/accuracy",
    }
    assert metrics["rewards/chosen"].tolist() == pytest.approx([0.05, -0.1])
    assert metrics["rewards/rejected"].tolist() == pytest.approx([-0.05, 0.05])
    assert metrics["rewards/margin"].tolist() == pytest.approx([0.1, -0.15])
    assert metrics["rewards/accuracy"].tolist() == [1.0, 0.0]
    assert not any(value.requires_grad for value in metrics.values())


def test_label_smoothing_zero_is_plain_dpo() -> None:
    generator = torch.Generator().manual_seed(3)
    pair = [torch.randn(8, generator=generator, dtype=torch.float64) for _ in range(4)]
    plain, _ = dpo_loss(*pair, beta=0.3)
    for loss_fn in (dpo_loss, robust_dpo_loss):
        torch.testing.assert_close(loss_fn(*pair, beta=0.3, label_smoothing=0.0)[0], plain)


def test_robust_dpo_is_unbiased_under_label_flips() -> None:
    """E over flips with rate eps of the robust loss on noisy labels = DPO on the clean labels."""
    generator = torch.Generator().manual_seed(4)
    pair = [torch.randn(8, generator=generator, dtype=torch.float64) for _ in range(4)]
    flipped = (pair[1], pair[0], pair[3], pair[2])  # y_w and y_l swapped
    eps = 0.2
    kept, _ = robust_dpo_loss(*pair, beta=0.5, label_smoothing=eps)
    swapped, _ = robust_dpo_loss(*flipped, beta=0.5, label_smoothing=eps)
    clean, _ = dpo_loss(*pair, beta=0.5)
    torch.testing.assert_close((1 - eps) * kept + eps * swapped, clean)


def random_inputs(seed: int) -> tuple[Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    logps = [
        (-5 * torch.rand(6, generator=generator, dtype=torch.float64)).requires_grad_(True)
        for _ in range(4)
    ]
    return tuple(logps)


GRADCHECKED: dict[str, Callable[..., Tensor]] = {
    "sigmoid": lambda c, r, rc, rr: dpo_loss(c, r, rc, rr, beta=0.7)[0],
    "cdpo": lambda c, r, rc, rr: dpo_loss(c, r, rc, rr, beta=0.7, label_smoothing=0.2)[0],
    "robust": lambda c, r, rc, rr: robust_dpo_loss(c, r, rc, rr, beta=0.7, label_smoothing=0.2)[0],
    "hinge": lambda c, r, rc, rr: hinge_loss(c, r, rc, rr, beta=0.7)[0],
    "ipo": lambda c, r, rc, rr: ipo_loss(
        c, r, rc, rr, chosen_lengths=torch.arange(1, 7), rejected_lengths=torch.arange(6, 0, -1)
    )[0],
    "simpo": lambda c, r, rc, rr: simpo_loss(
        c, r, chosen_lengths=torch.arange(1, 7), rejected_lengths=torch.full((6,), 3), gamma=0.3
    )[0],
    "rpo": lambda c, r, rc, rr: rpo_nll_term(c, torch.arange(1, 7), alpha=0.5),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKED))
def test_gradcheck(name: str) -> None:
    inputs = random_inputs(seed=5)
    assert torch.autograd.gradcheck(GRADCHECKED[name], inputs)


def table_inputs() -> PreferenceLogps:
    return PreferenceLogps(
        chosen=CHOSEN,
        rejected=REJECTED,
        ref_chosen=REF_CHOSEN,
        ref_rejected=REF_REJECTED,
        chosen_lengths=CHOSEN_LENGTHS,
        rejected_lengths=REJECTED_LENGTHS,
    )


def test_table_entries_call_their_losses() -> None:
    hyper = LossHyper(beta=0.3, label_smoothing=0.1, gamma=0.2)
    logps = table_inputs()
    expected = {
        "sigmoid": dpo_loss(*PAIR, beta=0.3, label_smoothing=0.1),
        "robust": robust_dpo_loss(*PAIR, beta=0.3, label_smoothing=0.1),
        "hinge": hinge_loss(*PAIR, beta=0.3),
        "ipo": ipo_loss(*PAIR, **LENGTHS, beta=0.3),
        "simpo": simpo_loss(CHOSEN, REJECTED, **LENGTHS, beta=0.3, gamma=0.2),
    }
    assert set(PREFERENCE_LOSSES) == set(expected)
    for name, loss_fn in PREFERENCE_LOSSES.items():
        loss, metrics = loss_fn(logps, hyper)
        expected_loss, expected_metrics = expected[name]
        torch.testing.assert_close(loss, expected_loss)
        torch.testing.assert_close(metrics, expected_metrics)


def test_reference_free_losses_run_without_reference() -> None:
    logps = PreferenceLogps(
        chosen=CHOSEN,
        rejected=REJECTED,
        chosen_lengths=CHOSEN_LENGTHS,
        rejected_lengths=REJECTED_LENGTHS,
    )
    for name in sorted(REFERENCE_FREE):
        loss, _ = PREFERENCE_LOSSES[name](logps, LossHyper())
        assert math.isfinite(loss.item())
    for name in sorted(set(PREFERENCE_LOSSES) - REFERENCE_FREE):
        with pytest.raises(ValueError, match="needs reference log-probabilities"):
            PREFERENCE_LOSSES[name](logps, LossHyper())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("beta", 0.0, "beta must be > 0"),
        ("label_smoothing", 0.5, r"label_smoothing must lie in \[0, 0.5\)"),
        ("label_smoothing", -0.1, r"label_smoothing must lie in \[0, 0.5\)"),
        ("alpha", -1.0, "alpha must be >= 0"),
    ],
)
def test_loss_hyper_rejects_bad_values(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LossHyper(**{field: value})
