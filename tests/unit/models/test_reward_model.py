"""`RewardModel`: pooling under either padding, save/load, normalization, loader errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from rlhf.data import Message
from rlhf.data.tokenize import encode_completion
from rlhf.models import (
    ModelLoadError,
    TinyEncoderConfig,
    TinyModelConfig,
    save_model,
    tiny_causal_lm,
    tiny_encoder,
)
from rlhf.models.reward import RewardModel, pad_token_ids
from rlhf.models.reward_loader import load_reward_model
from rlhf.models.reward_scoring import CARD_FILE, Normalization

PROMPTS = ["The cat likes", "A dog watches the river.", "Zoë paints"]
RESPONSES = ["green apples!", "the naïve student?", "a red kite 🪁 and more"]


def decoder_model(tokenizer: PreTrainedTokenizerFast, arch: str = "gpt2") -> RewardModel:
    lm = tiny_causal_lm(TinyModelConfig(arch=arch, vocab_size=len(tokenizer)), tokenizer=tokenizer)  # type: ignore[arg-type]
    return RewardModel(lm.base_model, tokenizer, max_length=64)  # type: ignore[arg-type]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_last_token_reward_is_the_same_with_left_or_right_padding(
    tokenizer: PreTrainedTokenizerFast, arch: str
) -> None:
    model = decoder_model(tokenizer, arch)
    assert model.pooling == "last"
    rows = [model.encode(p, r) for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    assert len({len(r) for r in rows}) > 1  # padding is really exercised
    right = model(**pad_token_ids(rows, model.pad_id, side="right"))
    left = model(**pad_token_ids(rows, model.pad_id, side="left"))
    alone = torch.cat([model(**pad_token_ids([row], model.pad_id)) for row in rows])
    assert right.shape == (3, 1)
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, right, atol=1e-5, rtol=1e-5)


def test_decoder_reads_the_eos_after_the_response(tokenizer: PreTrainedTokenizerFast) -> None:
    model = decoder_model(tokenizer)
    row = model.encode("2+2?", "4")
    assert row[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_encoder_pooling_ignores_padding(tokenizer: PreTrainedTokenizerFast, pooling: str) -> None:
    encoder = tiny_encoder(TinyEncoderConfig(vocab_size=len(tokenizer)), tokenizer=tokenizer)
    model = RewardModel(encoder, tokenizer, pooling=pooling)  # type: ignore[arg-type]
    rows = [model.encode(p, r) for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    batched = model(**pad_token_ids(rows, model.pad_id))
    alone = torch.cat([model(**pad_token_ids([row], model.pad_id)) for row in rows])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_encoder_defaults_to_mean_pooling_and_truncates_the_prompt_start(
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    encoder = tiny_encoder(TinyEncoderConfig(vocab_size=len(tokenizer)), tokenizer=tokenizer)
    model = RewardModel(encoder, tokenizer, max_length=12)
    assert model.pooling == "mean"
    long_prompt = " ".join(["The cat likes the river."] * 10)
    row = model.encode(long_prompt, "green apples!")
    assert len(row) == 12
    assert tokenizer.decode(row).endswith("green apples!")


def test_save_and_load_give_the_same_scores(
    tmp_path: Path, tokenizer: PreTrainedTokenizerFast
) -> None:
    model = decoder_model(tokenizer)
    model.normalization = Normalization((0.5,), (2.0,), "test")
    before = model.score(PROMPTS, RESPONSES)
    model.save_pretrained(tmp_path / "rm")
    loaded = load_reward_model(tmp_path / "rm")
    assert isinstance(loaded, RewardModel)
    assert loaded.normalization == model.normalization
    torch.testing.assert_close(loaded.score(PROMPTS, RESPONSES), before)
    raw = loaded.score(PROMPTS, RESPONSES, normalize=False)
    torch.testing.assert_close((raw - 0.5) / 2.0, before)
    card = json.loads((tmp_path / "rm" / CARD_FILE).read_text())
    assert card["kind"] == "transformer"
    assert card["settings"]["pooling"] == "last"


def test_conversations_use_the_chat_template(tokenizer: PreTrainedTokenizerFast) -> None:
    model = decoder_model(tokenizer)
    prompt = (Message("user", "2+2?"),)
    response = (Message("assistant", "4"),)
    row = model.encode(prompt, response)
    assert "<|assistant|>" in tokenizer.decode(row)
    assert model.score([prompt], [response]).shape == (1,)


def test_a_causal_lm_checkpoint_is_a_backbone(
    tmp_path: Path, tokenizer: PreTrainedTokenizerFast
) -> None:
    lm = tiny_causal_lm(
        TinyModelConfig(arch="gpt2", vocab_size=len(tokenizer)), tokenizer=tokenizer
    )
    save_model(lm, tokenizer, tmp_path / "lm")
    model = RewardModel.from_backbone(tmp_path / "lm", max_length=32)
    assert type(model.backbone).__name__ == "GPT2Model"
    for (
        name,
        value,
    ) in model.backbone.state_dict().items():  # the LM's trained weights, not new ones
        torch.testing.assert_close(value, lm.base_model.state_dict()[name])


def test_normalization_gives_mean_zero_std_one_on_its_reference() -> None:
    raw = torch.randn(50, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([2.0, -1.0, 0.0])
    normalized = Normalization.fit(raw, reference="x").apply(raw)
    torch.testing.assert_close(normalized.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalized.std(0, correction=0), torch.ones(3), atol=1e-5, rtol=0)


def test_one_head_has_no_spread_to_report(tokenizer: PreTrainedTokenizerFast) -> None:
    with pytest.raises(ValueError, match="--ensemble"):
        decoder_model(tokenizer).score_with_std(PROMPTS, RESPONSES)


def test_loader_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_reward_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"no reward_model\.json.*rlhf train reward"):
        load_reward_model(tmp_path / "empty")
    (tmp_path / "future").mkdir()
    card = {"kind": "quantum", "heads": 1, "normalization": {"mean": [0], "std": [1]}}
    (tmp_path / "future" / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="unknown reward model kind 'quantum'"):
        load_reward_model(tmp_path / "future")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / CARD_FILE).write_text("{")
    with pytest.raises(ModelLoadError, match="not a valid reward model card"):
        load_reward_model(tmp_path / "broken")


@pytest.mark.parametrize("max_length", [12, 20, 64])
def test_decoder_tokenizes_and_truncates_as_the_policy_trainers_do(
    tokenizer: PreTrainedTokenizerFast, max_length: int
) -> None:
    model = decoder_model(tokenizer)
    model.max_length = max_length
    prompt, response = "The cat likes the river. " * 3, "green apples! " * 4
    expected = encode_completion(tokenizer, prompt + "\n\n", response, max_length=max_length)
    assert model.encode(prompt, response) == list(expected.input_ids)
    head, tails = model.encode_shared(prompt, [response, "a dog"])
    assert head + tails[0] == list(expected.input_ids)  # the longest response sets the cut
    assert all(len(head) + len(tail) <= max_length for tail in tails)
