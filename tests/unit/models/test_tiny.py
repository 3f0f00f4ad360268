"""Tests for `rlhf.models.tiny`: shapes, seeded determinism, token ids, config validation."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import torch
from transformers import BertModel, GPT2LMHeadModel, LlamaForCausalLM, PreTrainedTokenizerFast

from rlhf.models import TinyEncoderConfig, TinyModelConfig, tiny_causal_lm, tiny_encoder
from rlhf.models.tiny import Arch

ARCHS: tuple[Arch, ...] = get_args(Arch)
VOCAB = 97


def _input_ids(batch: int = 2, length: int = 7, vocab: int = VOCAB) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1234)
    return torch.randint(0, vocab, (batch, length), generator=generator)  # (B, T)


@pytest.mark.parametrize(
    ("arch", "model_class"), [("gpt2", GPT2LMHeadModel), ("llama", LlamaForCausalLM)]
)
def test_forward_gives_logits_over_the_vocabulary(arch: Arch, model_class: type[Any]) -> None:
    model = tiny_causal_lm(TinyModelConfig(arch=arch, vocab_size=VOCAB, hidden_size=32))
    assert isinstance(model, model_class)
    assert not model.training
    with torch.no_grad():
        logits = model(input_ids=_input_ids()).logits  # (B, T, V)
    assert logits.shape == (2, 7, VOCAB)
    assert torch.isfinite(logits).all()
    assert model.config.num_hidden_layers == 2
    assert model.config.max_position_embeddings == 256


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_same_weights_other_seed_other_weights(arch: Arch) -> None:
    config = TinyModelConfig(arch=arch, vocab_size=VOCAB, seed=3)
    first, second = tiny_causal_lm(config), tiny_causal_lm(config)
    other = tiny_causal_lm(TinyModelConfig(arch=arch, vocab_size=VOCAB, seed=4))
    first_state, second_state, other_state = (
        first.state_dict(),
        second.state_dict(),
        other.state_dict(),
    )
    assert first_state.keys() == second_state.keys()
    assert all(torch.equal(first_state[name], second_state[name]) for name in first_state)
    assert not all(torch.equal(first_state[name], other_state[name]) for name in first_state)
    with torch.no_grad():
        assert torch.equal(first(_input_ids()).logits, second(_input_ids()).logits)


def test_forward_is_deterministic_in_train_mode() -> None:
    model = tiny_causal_lm(TinyModelConfig(arch="gpt2", vocab_size=VOCAB)).train()
    with torch.no_grad():
        assert torch.equal(model(_input_ids()).logits, model(_input_ids()).logits)


def test_building_does_not_disturb_the_global_rng() -> None:
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    tiny_causal_lm(TinyModelConfig(arch="llama", vocab_size=VOCAB))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("arch", ARCHS)
def test_token_ids_come_from_the_tokenizer(arch: Arch, tokenizer: PreTrainedTokenizerFast) -> None:
    model = tiny_causal_lm(
        TinyModelConfig(arch=arch, vocab_size=len(tokenizer)), tokenizer=tokenizer
    )
    for source in (model.config, model.generation_config):
        assert source.pad_token_id == tokenizer.pad_token_id
        assert source.bos_token_id == tokenizer.bos_token_id
        assert source.eos_token_id == tokenizer.eos_token_id
    ids = torch.tensor([tokenizer.encode("Zoë paints the river. 🪁")])  # (1, T)
    with torch.no_grad():
        assert model(input_ids=ids).logits.shape == (1, ids.shape[1], len(tokenizer))


def test_vocab_smaller_than_tokenizer_is_rejected(tokenizer: PreTrainedTokenizerFast) -> None:
    config = TinyModelConfig(arch="gpt2", vocab_size=len(tokenizer) - 1)
    with pytest.raises(ValueError, match=f"vocab_size={len(tokenizer)}"):
        tiny_causal_lm(config, tokenizer=tokenizer)


def test_encoder_forward_shapes(tokenizer: PreTrainedTokenizerFast) -> None:
    config = TinyEncoderConfig(vocab_size=len(tokenizer), hidden_size=32, num_heads=2)
    model = tiny_encoder(config, tokenizer=tokenizer)
    assert isinstance(model, BertModel)
    assert model.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(["a dog", "the robot watches green apples!"], padding=True)
    input_ids = torch.tensor(batch["input_ids"])  # (B, T)
    mask = torch.tensor(batch["attention_mask"])  # (B, T)
    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=mask)
    assert output.last_hidden_state.shape == (*input_ids.shape, 32)
    assert output.pooler_output.shape == (2, 32)


def test_encoder_is_seeded() -> None:
    config = TinyEncoderConfig(vocab_size=VOCAB, seed=5)
    first, second = tiny_encoder(config), tiny_encoder(config)
    with torch.no_grad():
        assert torch.equal(
            first(_input_ids()).last_hidden_state, second(_input_ids()).last_hidden_state
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arch": "gpt2", "hidden_size": 30}, "divisible by num_heads.*hidden_size=32"),
        ({"arch": "llama", "hidden_size": 12, "num_heads": 4}, "even head size.*hidden_size=16"),
        ({"arch": "bert"}, "tiny_encoder"),
        ({"arch": "gpt2", "num_layers": 0}, r"TinyModelConfig\.num_layers must be a positive"),
        ({"arch": "gpt2", "vocab_size": -1}, r"vocab_size must be a positive"),
    ],
)
def test_invalid_config_says_how_to_fix_it(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TinyModelConfig(**{"vocab_size": VOCAB, **kwargs})


def test_invalid_encoder_config_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"TinyEncoderConfig\.hidden_size must be divisible"):
        TinyEncoderConfig(vocab_size=VOCAB, hidden_size=10, num_heads=4)


def test_config_is_frozen_and_keyword_only() -> None:
    config = TinyModelConfig(arch="gpt2", vocab_size=VOCAB)
    assert config.head_dim == 16
    with pytest.raises(AttributeError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        TinyModelConfig("gpt2", VOCAB)  # type: ignore[call-arg]
