"""Tiny randomly initialised models for tests and demos, built from a `transformers` config.

Nothing is downloaded: each model is constructed in memory from a config object
(`GPT2Config`, `LlamaConfig`, `BertConfig`) and initialised under a fixed seed, so the same
`TinyModelConfig` always gives the same weights. Dropout is off, so a forward pass is
deterministic in train and eval mode alike.

Example:
    >>> tokenizer = train_bpe_tokenizer(texts, vocab_size=512)
    >>> model = tiny_causal_lm(TinyModelConfig(arch="llama", vocab_size=len(tokenizer)),
    ...                        tokenizer=tokenizer)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

logger = logging.getLogger(__name__)

__all__ = [
    "TinyEncoderConfig",
    "TinyModelConfig",
    "tiny_causal_lm",
    "tiny_encoder",
]

Arch = Literal["gpt2", "llama"]
"""Causal LM architectures `tiny_causal_lm` can build."""

_MLP_RATIO = 4
"""Feed-forward width as a multiple of `hidden_size`, as in GPT-2 and BERT."""


def _round_up(value: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is at least `value`."""
    return -(-value // multiple) * multiple


@dataclass(frozen=True, kw_only=True)
class TinyShape:
    """The size and seed every tiny model shares (see `TinyModelConfig`, `TinyEncoderConfig`)."""

    vocab_size: int
    """Number of token embeddings; at least `len(tokenizer)` when a tokenizer is used."""

    hidden_size: int = 64
    """Width of the residual stream; must be divisible by `num_heads`."""

    num_layers: int = 2
    """Number of transformer blocks."""

    num_heads: int = 4
    """Attention heads per block (also the number of key/value heads for "llama")."""

    max_positions: int = 256
    """Longest sequence the model accepts (position embeddings / RoPE range)."""

    seed: int = 0
    """Seed for weight initialisation; the same config always gives the same weights."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "max_positions"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{owner}.{name} must be a positive integer, got {value}.")
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"{owner}.hidden_size must be divisible by num_heads, got "
                f"hidden_size={self.hidden_size} and num_heads={self.num_heads}. Set hidden_size "
                f"to a multiple of num_heads, e.g. "
                f"hidden_size={_round_up(self.hidden_size, self.num_heads)}."
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head, `hidden_size // num_heads`."""
        return self.hidden_size // self.num_heads


@dataclass(frozen=True, kw_only=True)
class TinyModelConfig(TinyShape):
    """Shape and seed of a tiny causal language model (see `tiny_causal_lm`)."""

    arch: Arch
    """Architecture: "gpt2" (learned positions, LayerNorm, GELU) or "llama" (RoPE, RMSNorm,
    SwiGLU)."""

    def __post_init__(self) -> None:
        if self.arch not in get_args(Arch):
            raise ValueError(
                f"TinyModelConfig.arch must be one of {', '.join(get_args(Arch))}, got "
                f"{self.arch!r}. For an encoder use tiny_encoder(TinyEncoderConfig(...))."
            )
        super().__post_init__()
        if self.arch == "llama" and self.head_dim % 2 != 0:
            raise ValueError(
                f"TinyModelConfig: llama needs an even head size for rotary embeddings, got "
                f"hidden_size / num_heads = {self.hidden_size} / {self.num_heads} = "
                f"{self.head_dim}. Choose hidden_size = an even multiple of num_heads, e.g. "
                f"hidden_size={_round_up(self.hidden_size, 2 * self.num_heads)}."
            )


@dataclass(frozen=True, kw_only=True)
class TinyEncoderConfig(TinyShape):
    """Shape and seed of a tiny BERT-shaped encoder (see `tiny_encoder`)."""


@dataclass(frozen=True)
class _TokenIds:
    """Special token ids a model config carries; `None` where there is no tokenizer."""

    pad: int | None = None
    bos: int | None = None
    eos: int | None = None


def _gpt2_config(config: TinyModelConfig, ids: _TokenIds) -> Any:
    """A `GPT2Config` of the given shape, with dropout off."""
    return GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.max_positions,
        n_embd=config.hidden_size,
        n_layer=config.num_layers,
        n_head=config.num_heads,
        n_inner=_MLP_RATIO * config.hidden_size,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=ids.pad,
        bos_token_id=ids.bos,
        eos_token_id=ids.eos,
    )


def _llama_config(config: TinyModelConfig, ids: _TokenIds) -> Any:
    """A `LlamaConfig` of the given shape (full multi-head attention, no dropout)."""
    return LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=_MLP_RATIO * config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_positions,
        attention_dropout=0.0,
        pad_token_id=ids.pad,
        bos_token_id=ids.bos,
        eos_token_id=ids.eos,
    )


_ConfigBuilder = Callable[[TinyModelConfig, _TokenIds], Any]

_CAUSAL_LMS: dict[str, tuple[_ConfigBuilder, type[PreTrainedModel]]] = {
    "gpt2": (_gpt2_config, GPT2LMHeadModel),
    "llama": (_llama_config, LlamaForCausalLM),
}
"""Per architecture: how to build its transformers config, and the model class."""


def tiny_causal_lm(
    config: TinyModelConfig, *, tokenizer: PreTrainedTokenizerBase | None = None
) -> PreTrainedModel:
    """Build a randomly initialised causal LM of the shape in `config`; nothing is downloaded.

    Weights are initialised under `torch.manual_seed(config.seed)` inside a forked RNG, so the
    result depends only on `config` and the caller's random state is left untouched.

    Args:
        config: Architecture, sizes and seed.
        tokenizer: If given, the model's `pad_token_id`, `bos_token_id` and `eos_token_id` (in its
            config and generation config) are taken from it, and `config.vocab_size` must be at
            least `len(tokenizer)`.

    Returns:
        A `GPT2LMHeadModel` or `LlamaForCausalLM` in eval mode (like `from_pretrained`); call
        `.train()` before training. Its logits have shape (B, T, vocab_size).

    Raises:
        ValueError: The tokenizer has more tokens than `config.vocab_size`.
    """
    build_config, model_class = _CAUSAL_LMS[config.arch]
    hf_config = build_config(config, _token_ids(tokenizer, config.vocab_size))
    model = _seeded(model_class, hf_config, config.seed)
    logger.debug(
        "built tiny %s: %d parameters", config.arch, sum(p.numel() for p in model.parameters())
    )
    return model


def tiny_encoder(
    config: TinyEncoderConfig, *, tokenizer: PreTrainedTokenizerBase | None = None
) -> PreTrainedModel:
    """Build a randomly initialised BERT-shaped encoder (`BertModel`); nothing is downloaded.

    Seeding and `tokenizer` work as in `tiny_causal_lm` (only `pad_token_id` is used). The model
    returns `last_hidden_state` of shape (B, T, hidden_size) and a pooled output (B, hidden_size).
    """
    ids = _token_ids(tokenizer, config.vocab_size)
    hf_config = BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=_MLP_RATIO * config.hidden_size,
        max_position_embeddings=config.max_positions,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=ids.pad,
    )
    return _seeded(BertModel, hf_config, config.seed)


def _seeded(model_class: type[PreTrainedModel], hf_config: Any, seed: int) -> PreTrainedModel:
    """Instantiate `model_class(hf_config)` under `seed` without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(hf_config)
    model.train(False)  # eval mode, like from_pretrained (transformers leaves eval() untyped)
    return model


def _token_ids(tokenizer: PreTrainedTokenizerBase | None, vocab_size: int) -> _TokenIds:
    """The special token ids a model config should carry for `tokenizer` (none without one)."""
    if tokenizer is None:
        return _TokenIds()
    if len(tokenizer) > vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is "
            f"{vocab_size}, so some token ids would have no embedding. Set "
            f"vocab_size={len(tokenizer)} (or larger)."
        )
    return _TokenIds(
        pad=tokenizer.pad_token_id, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id
    )
