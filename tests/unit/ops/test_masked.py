"""masked_sum and masked_mean against plain Python loops."""

from __future__ import annotations

import pytest
import torch

from rlhf.ops import masked_mean, masked_sum


@pytest.fixture
def padded() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(4, 6, generator=generator, dtype=torch.float64)  # (B, T)
    mask = (torch.rand(4, 6, generator=generator) < 0.6).long()  # (B, T)
    mask[2] = 0  # a row with no real entry
    return values, mask


def loop_row_means(values: torch.Tensor, mask: torch.Tensor) -> list[float]:
    means = []
    for row, row_mask in zip(values.tolist(), mask.tolist(), strict=True):
        real = [v for v, m in zip(row, row_mask, strict=True) if m]
        means.append(sum(real) / len(real) if real else 0.0)
    return means


def test_masked_sum_equals_loop(padded: tuple[torch.Tensor, torch.Tensor]) -> None:
    values, mask = padded
    rows = [
        sum(v for v, m in zip(row, row_mask, strict=True) if m)
        for row, row_mask in zip(values.tolist(), mask.tolist(), strict=True)
    ]
    assert masked_sum(values, mask, dim=-1).tolist() == pytest.approx(rows, abs=1e-12)
    assert masked_sum(values, mask).item() == pytest.approx(sum(rows), abs=1e-12)


def test_masked_mean_per_row_equals_loop(padded: tuple[torch.Tensor, torch.Tensor]) -> None:
    values, mask = padded
    expected = loop_row_means(values, mask)
    assert masked_mean(values, mask, dim=1).tolist() == pytest.approx(expected, abs=1e-12)
    assert expected[2] == 0.0  # the empty row is 0, not NaN


def test_masked_mean_over_columns_equals_loop(padded: tuple[torch.Tensor, torch.Tensor]) -> None:
    values, mask = padded
    expected = loop_row_means(values.T, mask.T)
    assert masked_mean(values, mask, dim=0).tolist() == pytest.approx(expected, abs=1e-12)


def test_masked_mean_over_everything_equals_loop(padded: tuple[torch.Tensor, torch.Tensor]) -> None:
    values, mask = padded
    real = [v for v, m in zip(values.flatten().tolist(), mask.flatten().tolist(), strict=True) if m]
    assert masked_mean(values, mask).item() == pytest.approx(sum(real) / len(real), abs=1e-12)


def test_masked_mean_of_empty_mask_is_zero() -> None:
    values = torch.randn(3, 4)
    assert masked_mean(values, torch.zeros(3, 4)).item() == 0.0
    assert masked_mean(values, torch.zeros(3, 4, dtype=torch.bool), dim=1).tolist() == [0.0] * 3


def test_masked_mean_accepts_bool_float_and_long_masks(
    padded: tuple[torch.Tensor, torch.Tensor],
) -> None:
    values, mask = padded
    means = [masked_mean(values, m, dim=1) for m in (mask, mask.bool(), mask.double())]
    torch.testing.assert_close(means[0], means[1])
    torch.testing.assert_close(means[0], means[2])
