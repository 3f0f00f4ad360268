"""One forward pass of a causal LM over a batch's new columns, with a KV cache: `generate`'s engine.

`generate` asks a `Decoder` for the logits of the last column, once for the prompts (the prefill)
and once per generated token (a step). Two kinds answer:

- the fast path, for the architectures this project builds and trains (`DECODERS`: GPT-2 and
  Llama). It calls the model's own submodules (embeddings, norms, the attention and MLP
  projections, `lm_head`), so the weights are always the live ones and LoRA layers, which `peft`
  puts in place of those projections, keep working. What it leaves out is the per-call machinery
  of the `transformers` stack: the 4-D mask built per call (here one additive (b, 1, 1, S) bias
  per step, from the padding mask of the columns so far, shared by all layers), the `Cache`
  dispatch, output dataclasses and hooks, RoPE cos/sin per call (here once per `generate` call,
  for every position). Keys and values go in place into the preallocated cache of
  `rlhf.rollout.cache`; the prefill attends with `scaled_dot_product_attention`, a step with
  `_attend_one`;
- `TransformersDecoder`, the model's own forward, for everything else.

What takes the fast path (`fast_decoder`): a model that is, inside any DDP or `peft` wrapper,
exactly one of the classes in `DECODERS` (a subclass may change the forward pass, so it falls
back) with a config its decoder `supports` (Llama: RoPE frequencies that do not depend on the
sequence length, i.e. not "dynamic" or "longrope"). The fast path runs in eval mode only (no
dropout), as `generate` does. Both paths give the same logits to float rounding (tested to 1e-5 in
float32 with left-padded prompts of mixed lengths, rows leaving the batch, grouped-query attention
and LoRA adapters).

Padding: a left-padded prompt's pad columns are never attended to. In the prefill a pad column's own
query sees nothing, and `scaled_dot_product_attention` returns zeros for it (torch >= 2.5), so its
keys and values in later layers stay finite (a NaN there would reach real tokens through their
attention weights of 0).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.nn import functional
from transformers import GPT2LMHeadModel, LlamaForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from rlhf.rollout.logprobs import keeps_logits, unwrap

logger = logging.getLogger(__name__)

__all__ = [
    "DECODERS",
    "Decoder",
    "GPT2Decoder",
    "LlamaDecoder",
    "TransformersDecoder",
    "decoder_for",
    "fast_decoder",
]


class Decoder(Protocol):
    """Runs new columns through the model, keeping their keys and values in a cache."""

    def __call__(self, ids: Tensor, positions: Tensor, mask: Tensor, cache: Any) -> Tensor:
        """Logits (b, V) of the last of the new columns.

        Args:
            ids: The new columns' token ids (b, L): the prompts (prefill) or one token (a step).
            positions: Their position ids (b, L).
            mask: 1 on the real tokens of all S columns so far, the new ones included (b, S).
            cache: A `rlhf.rollout.cache.generation_cache` holding the S - L columns before.
        """
        ...


class TransformersDecoder:
    """The model's own forward: the fallback for architectures without a fast path."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.keep_last = {"logits_to_keep": 1} if keeps_logits(model) else {}

    def __call__(self, ids: Tensor, positions: Tensor, mask: Tensor, cache: Any) -> Tensor:
        output = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                            past_key_values=cache, use_cache=True, **self.keep_last)  # fmt: skip
        logits: Tensor = output.logits[:, -1]
        return logits


def _attention_bias(mask: Tensor, new: int, dtype: torch.dtype) -> Tensor:
    """Additive attention bias of each new column, (b, 1, L, S): 0 where it attends, -inf elsewhere.

    `mask` (b, S) is 1 on real tokens. A step (L = 1) sees every real column; a prefill's columns
    see no column after their own.
    """
    width = mask.shape[1]
    hidden = ~mask.bool()[:, None, None, :]  # (b, 1, 1, S)
    if new > 1:
        columns = torch.arange(width, device=mask.device)
        hidden = hidden | (columns > columns[width - new :, None])  # (b, 1, L, S)
    bias = torch.zeros(hidden.shape, dtype=dtype, device=mask.device)
    return bias.masked_fill_(hidden, float("-inf"))


def _attend(query: Tensor, keys: Tensor, values: Tensor, bias: Tensor, scale: float) -> Tensor:
    """softmax(q k^T * scale + bias) v for (b, h, L, d) queries over (b, h_kv, S, d) keys: (b, L, h * d).

    Grouped-query attention (h_kv < h) shares each key/value head among h / h_kv query heads.
    A float32 step on the CPU (one query per row) runs `_attend_one`, everything else
    `scaled_dot_product_attention`.
    """
    if query.shape[2] == 1 and query.device.type == "cpu" and query.dtype == torch.float32:
        return _attend_one(query, keys, values, bias, scale)
    groups = query.shape[1] // keys.shape[1]
    output = functional.scaled_dot_product_attention(
        query, keys, values, attn_mask=bias, scale=scale, enable_gqa=groups > 1
    )  # (b, h, L, d)
    return output.transpose(1, 2).flatten(2)


def _attend_one(query: Tensor, keys: Tensor, values: Tensor, bias: Tensor, scale: float) -> Tensor:
    """`_attend` for one query per row, as broadcast products and sums: (b, 1, h * d).

    The same function as `scaled_dot_product_attention` (equal to float rounding, tested), but as
    a few passes over all rows and heads at once: the CPU attention kernel works head by head, and
    for a single query its per-head cost outweighs the arithmetic. Measured on the benchmarks'
    tiny GPT-2 (1 thread, 16 or 32 rows): a whole `generate` call 4-9% faster.
    Kept to float32 on the CPU: the products are rounded to the input dtype before the sum, which
    costs precision in bf16, and GPUs have fused kernels.
    """
    batch, heads, _, head_dim = query.shape
    shared = keys.shape[1]  # h_kv
    grouped = query.view(batch, shared, heads // shared, 1, head_dim)  # (b, h_kv, g, 1, d)
    scores = (keys[:, :, None] * grouped).sum(-1).mul_(scale).add_(bias)  # (b, h_kv, g, S)
    weights = torch.softmax(scores, dim=-1)
    output = (weights[..., None] * values[:, :, None]).sum(-2)  # (b, h_kv, g, d)
    return output.view(batch, 1, heads * head_dim)


def _heads(states: Tensor, head_dim: int) -> Tensor:
    """(b, L, h * d) -> (b, h, L, d)."""
    batch, width, _ = states.shape
    return states.view(batch, width, -1, head_dim).transpose(1, 2)


class GPT2Decoder:
    """GPT-2 (`GPT2LMHeadModel`): learned positions, LayerNorm, fused QKV projection (`Conv1D`)."""

    def __init__(self, model: Any, *, capacity: int) -> None:
        self.model = model

    @staticmethod
    def supports(config: Any) -> bool:
        """Every GPT-2 config: its scaling, activation and norms live in its modules."""
        return True

    def __call__(self, ids: Tensor, positions: Tensor, mask: Tensor, cache: Any) -> Tensor:
        trunk = self.model.transformer
        hidden = trunk.wte(ids) + trunk.wpe(positions)  # (b, L, H)
        attend = _attention_bias(mask, ids.shape[1], hidden.dtype)
        for block, layer in zip(trunk.h, cache.layers, strict=True):
            attention = block.attn
            query, key, value = attention.c_attn(block.ln_1(hidden)).split(attention.split_size, 2)
            keys, values = layer.update(_heads(key, attention.head_dim),
                                        _heads(value, attention.head_dim))  # fmt: skip
            mixed = _attend(_heads(query, attention.head_dim), keys, values, attend,
                            attention.scaling)  # fmt: skip
            hidden = hidden + attention.c_proj(mixed)
            hidden = hidden + block.mlp(block.ln_2(hidden))
        logits: Tensor = self.model.lm_head(trunk.ln_f(hidden[:, -1]))  # (b, V)
        return logits


class LlamaDecoder:
    """Llama (`LlamaForCausalLM`): RoPE, RMSNorm, gated MLP, grouped-query attention."""

    _VARIABLE_ROPE = frozenset({"dynamic", "longrope"})
    """RoPE types whose frequencies change with the sequence length: computed per call, not once."""

    def __init__(self, model: Any, *, capacity: int) -> None:
        self.model = model
        trunk = model.model
        weight = trunk.embed_tokens.weight
        every = torch.arange(capacity, device=weight.device)[None]  # (1, capacity)
        cos, sin = trunk.rotary_emb(weight[:1], position_ids=every)  # (1, capacity, d) each
        self.cos, self.sin = cos[0], sin[0]  # (capacity, d)

    @classmethod
    def supports(cls, config: Any) -> bool:
        """Llama configs whose RoPE frequencies are fixed (module docstring)."""
        parameters = getattr(config, "rope_parameters", None) or {}
        return parameters.get("rope_type", "default") not in cls._VARIABLE_ROPE

    def __call__(self, ids: Tensor, positions: Tensor, mask: Tensor, cache: Any) -> Tensor:
        trunk = self.model.model
        hidden = trunk.embed_tokens(ids)  # (b, L, H)
        cos, sin = self.cos[positions], self.sin[positions]  # (b, L, d)
        attend = _attention_bias(mask, ids.shape[1], hidden.dtype)
        for block, layer in zip(trunk.layers, cache.layers, strict=True):
            attention, normed = block.self_attn, block.input_layernorm(hidden)
            query = _heads(attention.q_proj(normed), attention.head_dim)
            key = _heads(attention.k_proj(normed), attention.head_dim)
            query, key = apply_rotary_pos_emb(query, key, cos, sin)
            keys, values = layer.update(key, _heads(attention.v_proj(normed), attention.head_dim))
            mixed = _attend(query, keys, values, attend, attention.scaling)
            hidden = hidden + attention.o_proj(mixed)
            hidden = hidden + block.mlp(block.post_attention_layernorm(hidden))
        logits: Tensor = self.model.lm_head(trunk.norm(hidden[:, -1]))  # (b, V)
        return logits


DECODERS: dict[type, type[GPT2Decoder] | type[LlamaDecoder]] = {
    GPT2LMHeadModel: GPT2Decoder,
    LlamaForCausalLM: LlamaDecoder,
}
"""The fast path of each supported model class (the exact class: subclasses fall back)."""


def _base_model(model: Any) -> Any:
    """The `transformers` model inside DDP and `peft` wrappers (LoRA layers stay in place)."""
    inner = unwrap(model)
    get_base_model = getattr(inner, "get_base_model", None)  # peft's PeftModel
    return get_base_model() if callable(get_base_model) else inner


def fast_decoder(model: Any, *, capacity: int) -> GPT2Decoder | LlamaDecoder | None:
    """The fast path for `model` (module docstring), or None when it has none."""
    inner = _base_model(model)
    decoder_class = DECODERS.get(type(inner))
    if decoder_class is None or not decoder_class.supports(inner.config):
        return None
    return decoder_class(inner, capacity=capacity)


def decoder_for(model: Any, *, capacity: int) -> Decoder:
    """The fast path for `model` when it has one, else `TransformersDecoder`.

    `capacity`: the most columns (prompt + new tokens) one call will see.
    """
    fast = fast_decoder(model, capacity=capacity)
    if fast is not None:
        return fast
    logger.debug("no fast decoding path for %s: using its own forward", type(model).__name__)
    return TransformersDecoder(model)
