"""The DPO family equals TRL's own code on identical random inputs (within 1e-6).

TRL (an optional benchmark extra, skipped when absent) computes its DPO losses inline in
`DPOTrainer._compute_loss` (trl 1.16: trl/trainer/dpo_trainer.py, lines 1285-1612), which runs the
model itself. We call that method unchanged with a stand-in `self` and a stand-in model whose
per-token log-probabilities sum to the sequence log-probabilities we choose; the reference
log-probabilities go in as precomputed. SimPO and conservative DPO are not in TRL 1.16's
`DPOTrainer`; they are checked against `CPOTrainer.cpo_loss` (trl/experimental/cpo/cpo_trainer.py,
lines 678-750), a method of tensors only.

Differences found, none a bug on either side:
- TRL 1.16's "sigmoid" ignores `label_smoothing` (its config documents it for "robust" and "exo_pair"
  only); ours is cDPO when label_smoothing > 0, as TRL's `cpo_loss` "sigmoid" and older TRL were.
- TRL's "sft" term (our RPO term) averages the NLL over all chosen tokens of the batch; ours over
  each pair's tokens, then over pairs (Pang et al. 2024). They agree when lengths are equal.
- Metrics: TRL logs batch means named `rewards/margins` and `rewards/accuracies`; ours are per-pair
  tensors named `rewards/margin` and `rewards/accuracy`, with the same means.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor

from rlhf.ops import (
    dpo_loss,
    hinge_loss,
    ipo_loss,
    robust_dpo_loss,
    rpo_nll_term,
    simpo_loss,
)

B = 16


def random_pairs(seed: int = 0, equal_lengths: bool = False) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)

    def logps() -> Tensor:
        return -20 * torch.rand(B, generator=generator, dtype=torch.float64)

    def lengths() -> Tensor:
        return (
            torch.full((B,), 6)
            if equal_lengths
            else torch.randint(1, 12, (B,), generator=generator)
        )

    return {
        "chosen": logps(),
        "rejected": logps(),
        "ref_chosen": logps(),
        "ref_rejected": logps(),
        "chosen_lengths": lengths(),
        "rejected_lengths": lengths(),
    }


def trl_dpo(
    pairs: dict[str, Tensor], *, loss_types: list[str], loss_weights: list[float], **args: float
) -> tuple[Tensor, dict[str, list[float]]]:
    """TRL's `DPOTrainer._compute_loss` on these sequence log-probabilities: (loss, logged means)."""
    trainer_module = pytest.importorskip("trl.trainer.dpo_trainer")
    lengths = torch.cat(
        [pairs["chosen_lengths"], pairs["rejected_lengths"]]
    )  # (2B,) [chosen, rejected]
    logps = torch.cat([pairs["chosen"], pairs["rejected"]])  # (2B,)
    width = int(lengths.max())
    # TRL shifts the completion mask by one; position 0 is a one-token prompt.
    shift_mask = (torch.arange(width) < lengths[:, None]).to(logps.dtype)  # (2B, width)
    completion_mask = torch.cat([torch.zeros(2 * B, 1), shift_mask], dim=1)  # (2B, width + 1)
    outputs = SimpleNamespace(
        log_probs=shift_mask * (logps / lengths)[:, None],  # sums to logps over the completion
        entropy=torch.zeros_like(shift_mask),
        mean_logits=torch.zeros_like(shift_mask),
        is_top1=torch.zeros_like(shift_mask, dtype=torch.bool),
    )

    def model(**_: Any) -> SimpleNamespace:
        return outputs

    identity = SimpleNamespace(device="cpu", gather=lambda x: x, gather_for_metrics=lambda x: x)
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True),
        accelerator=identity,
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=loss_types,
        loss_weights=loss_weights,
        use_weighting=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
        **args,
    )
    inputs = {
        "input_ids": torch.zeros_like(completion_mask, dtype=torch.long),
        "attention_mask": torch.ones_like(completion_mask, dtype=torch.long),
        "completion_mask": completion_mask.long(),
        "ref_chosen_logps": pairs["ref_chosen"],
        "ref_rejected_logps": pairs["ref_rejected"],
    }
    loss = trainer_module.DPOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)
    return loss, trainer._metrics["train"]


def trl_cpo(chosen: Tensor, rejected: Tensor, **args: float | str) -> Tensor:
    """TRL's `CPOTrainer.cpo_loss` per-pair losses (its inputs: log-probs, or averages for SimPO)."""
    cpo_module = pytest.importorskip("trl.experimental.cpo.cpo_trainer")
    trainer = SimpleNamespace(alpha=0.0, accelerator=SimpleNamespace(device="cpu"), **args)
    losses, _, _ = cpo_module.CPOTrainer.cpo_loss(trainer, chosen, rejected)
    return losses  # type: ignore[no-any-return]


def ours(pairs: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return pairs["chosen"], pairs["rejected"], pairs["ref_chosen"], pairs["ref_rejected"]


def lengths(pairs: dict[str, Tensor]) -> dict[str, Tensor]:
    return {
        "chosen_lengths": pairs["chosen_lengths"],
        "rejected_lengths": pairs["rejected_lengths"],
    }


def assert_same_metrics(metrics: dict[str, Tensor], logged: dict[str, list[float]]) -> None:
    for name, trl_name in [
        ("rewards/chosen", "rewards/chosen"),
        ("rewards/rejected", "rewards/rejected"),
        ("rewards/margin", "rewards/margins"),
        ("rewards/accuracy", "rewards/accuracies"),
    ]:
        assert metrics[name].mean().item() == pytest.approx(logged[trl_name][0], abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_sigmoid_equals_trl(seed: int) -> None:
    pairs = random_pairs(seed)
    trl_loss, logged = trl_dpo(
        pairs, loss_types=["sigmoid"], loss_weights=[1.0], beta=0.1, label_smoothing=0.0
    )
    loss, metrics = dpo_loss(*ours(pairs), beta=0.1)
    torch.testing.assert_close(loss, trl_loss, atol=1e-6, rtol=0)
    assert_same_metrics(metrics, logged)


def test_conservative_dpo_equals_trl_cpo_sigmoid_on_log_ratios() -> None:
    """cpo_loss("sigmoid") on log-ratios (log pi - log pi_ref) is exactly cDPO."""
    pairs = random_pairs(2)
    chosen_ratios = pairs["chosen"] - pairs["ref_chosen"]
    rejected_ratios = pairs["rejected"] - pairs["ref_rejected"]
    trl_losses = trl_cpo(
        chosen_ratios, rejected_ratios, loss_type="sigmoid", beta=0.2, label_smoothing=0.15
    )
    loss, _ = dpo_loss(*ours(pairs), beta=0.2, label_smoothing=0.15)
    torch.testing.assert_close(loss, trl_losses.mean(), atol=1e-6, rtol=0)


def test_robust_equals_trl() -> None:
    pairs = random_pairs(3)
    trl_loss, logged = trl_dpo(
        pairs, loss_types=["robust"], loss_weights=[1.0], beta=0.2, label_smoothing=0.1
    )
    loss, metrics = robust_dpo_loss(*ours(pairs), beta=0.2, label_smoothing=0.1)
    torch.testing.assert_close(loss, trl_loss, atol=1e-6, rtol=0)
    assert_same_metrics(metrics, logged)


def test_hinge_equals_trl() -> None:
    pairs = random_pairs(4)
    trl_loss, logged = trl_dpo(
        pairs, loss_types=["hinge"], loss_weights=[1.0], beta=0.1, label_smoothing=0.0
    )
    loss, metrics = hinge_loss(*ours(pairs), beta=0.1)
    torch.testing.assert_close(loss, trl_loss, atol=1e-6, rtol=0)
    assert_same_metrics(metrics, logged)


def test_ipo_equals_trl_length_normalized() -> None:
    pairs = random_pairs(5)
    trl_loss, logged = trl_dpo(
        pairs, loss_types=["ipo"], loss_weights=[1.0], beta=0.5, label_smoothing=0.0
    )
    loss, metrics = ipo_loss(*ours(pairs), **lengths(pairs), beta=0.5)
    torch.testing.assert_close(loss, trl_loss, atol=1e-6, rtol=0)
    assert_same_metrics(metrics, logged)


def test_simpo_equals_trl_cpo_simpo() -> None:
    """CPOTrainer's SimPO takes averaged log-probs and `simpo_gamma` (our gamma)."""
    pairs = random_pairs(6)
    chosen_avg = pairs["chosen"] / pairs["chosen_lengths"]
    rejected_avg = pairs["rejected"] / pairs["rejected_lengths"]
    trl_losses = trl_cpo(
        chosen_avg, rejected_avg, loss_type="simpo", beta=2.0, simpo_gamma=0.8, label_smoothing=0.0
    )
    loss, _ = simpo_loss(pairs["chosen"], pairs["rejected"], **lengths(pairs), beta=2.0, gamma=0.8)
    torch.testing.assert_close(loss, trl_losses.mean(), atol=1e-6, rtol=0)


def test_rpo_equals_trl_sigmoid_plus_sft_when_lengths_are_equal() -> None:
    pairs = random_pairs(7, equal_lengths=True)
    trl_loss, _ = trl_dpo(
        pairs, loss_types=["sigmoid", "sft"], loss_weights=[1.0, 0.5], beta=0.1, label_smoothing=0.0
    )
    loss, _ = dpo_loss(*ours(pairs), beta=0.1)
    loss = loss + rpo_nll_term(pairs["chosen"], pairs["chosen_lengths"], alpha=0.5)
    torch.testing.assert_close(loss, trl_loss, atol=1e-6, rtol=0)
