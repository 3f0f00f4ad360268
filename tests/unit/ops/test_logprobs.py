"""token_logprobs and sequence_logprobs against the naive log_softmax + gather and a Python loop."""

from __future__ import annotations

import pytest
import torch

from rlhf.ops import completion_lengths, segment_logprobs, sequence_logprobs, token_logprobs

B, T, V = 3, 7, 11


def naive_token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The specification: the full log-softmax, then one entry per position."""
    return logits.log_softmax(dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def random_batch(
    dtype: torch.dtype = torch.float64, scale: float = 3.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """logits (B, T, V), input ids (B, T), completion mask (B, T) with prompts of 2-3 tokens."""
    generator = torch.Generator().manual_seed(seed)
    logits = (torch.randn(B, T, V, generator=generator, dtype=torch.float64) * scale).to(dtype)
    labels = torch.randint(V, (B, T), generator=generator)
    mask = torch.zeros(B, T, dtype=torch.long)
    mask[0, 2:] = 1  # completion runs to the end
    mask[1, 3:5] = 1  # completion followed by padding
    mask[2, 2:6] = 1
    return logits, labels, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk_rows", [1, 3, 7, None])
def test_token_logprobs_equals_naive(dtype: torch.dtype, chunk_rows: int | None) -> None:
    logits, labels, _ = random_batch(dtype)
    got = token_logprobs(logits, labels, chunk_rows=chunk_rows)
    assert got.shape == (B, T)
    assert got.dtype == dtype
    torch.testing.assert_close(got, naive_token_logprobs(logits, labels))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_token_logprobs_of_half_precision_logits(dtype: torch.dtype) -> None:
    """Half-precision logits are exact inputs: the result is float32 and matches the naive
    formula on the same values in float32 (1e-5), while the naive formula run in bf16/fp16
    itself is only good to its own rounding (~0.4% of |log p| for bf16)."""
    logits, labels, _ = random_batch(dtype, scale=5.0)
    got = token_logprobs(logits, labels, chunk_rows=4)
    assert got.dtype == torch.float32
    exact = naive_token_logprobs(logits.double(), labels).float()
    torch.testing.assert_close(got, exact, atol=1e-5, rtol=1e-6)
    in_half = naive_token_logprobs(logits, labels).float()
    torch.testing.assert_close(got, in_half, atol=0.1, rtol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_token_logprobs_gradient_equals_naive(dtype: torch.dtype) -> None:
    logits, labels, _ = random_batch(dtype)
    upstream = torch.randn(B, T, generator=torch.Generator().manual_seed(1))
    ours = logits.clone().requires_grad_(True)
    (token_logprobs(ours, labels, chunk_rows=5) * upstream).sum().backward()
    naive = logits.float().requires_grad_(True)
    (naive_token_logprobs(naive, labels) * upstream).sum().backward()
    assert ours.grad is not None
    assert naive.grad is not None
    assert ours.grad.dtype == dtype
    atol, rtol = (1e-6, 1e-5) if dtype == torch.float32 else (1e-2, 1e-2)  # bf16 keeps 8 bits
    torch.testing.assert_close(ours.grad.float(), naive.grad, atol=atol, rtol=rtol)


def test_token_logprobs_gradcheck() -> None:
    logits, labels, _ = random_batch(torch.float64, scale=1.0)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: token_logprobs(z, labels, chunk_rows=4), (logits,))


def test_token_logprobs_of_strided_logits() -> None:
    logits, labels, _ = random_batch()
    strided = logits.transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    assert not strided.is_contiguous()
    torch.testing.assert_close(
        token_logprobs(strided, labels), naive_token_logprobs(logits, labels)
    )


def loop_sequence_logprobs(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, average: bool
) -> list[float]:
    """The shift convention spelled out: logits at t - 1 give the probability of token t."""
    totals = []
    for b in range(logits.shape[0]):
        terms = [
            logits[b, t - 1].log_softmax(-1)[labels[b, t]].item()
            for t in range(1, logits.shape[1])
            if mask[b, t]
        ]
        totals.append(sum(terms) / max(len(terms), 1) if average else sum(terms))
    return totals


@pytest.mark.parametrize("average", [False, True])
def test_sequence_logprobs_equals_loop(average: bool) -> None:
    logits, labels, mask = random_batch()
    got = sequence_logprobs(logits, labels, mask, average=average)
    assert got.shape == (B,)
    expected = loop_sequence_logprobs(logits, labels, mask, average)
    assert got.tolist() == pytest.approx(expected, abs=1e-12)


def test_sequence_logprobs_ignores_labels_outside_the_completion() -> None:
    logits, labels, mask = random_batch()
    ignored = labels.masked_fill(mask == 0, -100)  # as in Hugging Face label tensors
    torch.testing.assert_close(
        sequence_logprobs(logits, ignored, mask), sequence_logprobs(logits, labels, mask)
    )


def test_sequence_logprobs_counts_completion_lengths() -> None:
    logits, labels, mask = random_batch()
    lengths = completion_lengths(mask)
    assert lengths.tolist() == [5, 2, 4]
    summed = sequence_logprobs(logits, labels, mask)
    averaged = sequence_logprobs(logits, labels, mask, average=True)
    torch.testing.assert_close(averaged, summed / lengths)


def test_sequence_logprobs_of_empty_completion_is_zero() -> None:
    logits, labels, mask = random_batch()
    mask[1] = 0
    assert sequence_logprobs(logits, labels, mask)[1].item() == 0.0
    assert sequence_logprobs(logits, labels, mask, average=True)[1].item() == 0.0


def test_sequence_logprobs_of_bf16_logits_is_float32() -> None:
    logits, labels, mask = random_batch(torch.bfloat16)
    got = sequence_logprobs(logits, labels, mask)
    assert got.dtype == torch.float32
    expected = loop_sequence_logprobs(logits.double(), labels, mask, average=False)
    assert got.tolist() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("average", [False, True])
def test_sequence_logprobs_gradcheck(average: bool) -> None:
    logits, labels, mask = random_batch(torch.float64, scale=1.0)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda z: sequence_logprobs(z, labels, mask, average=average), (logits,)
    )


def test_segment_logprobs_sums_each_mask_like_the_loop() -> None:
    logits, labels, _ = random_batch()
    masks = torch.zeros(2, B, T, dtype=torch.long)
    masks[0, :, 1:3] = 1  # two segments of each row, e.g. a chosen and a rejected response
    masks[1, :, 4:6] = 1
    masks[1, 1, 6] = 1
    got = segment_logprobs(logits, labels, masks)
    assert got.shape == (2, B)
    for s in range(2):
        expected = loop_sequence_logprobs(logits, labels, masks[s], average=False)
        assert got[s].tolist() == pytest.approx(expected, abs=1e-12)
        torch.testing.assert_close(got[s], sequence_logprobs(logits, labels, masks[s]))


def test_segment_logprobs_gradcheck() -> None:
    logits, labels, mask = random_batch(torch.float64, scale=1.0)
    masks = torch.stack([mask, 1 - mask])
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: segment_logprobs(z, labels, masks), (logits,))
