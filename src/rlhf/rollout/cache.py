"""The KV cache `generate` uses: `transformers`' `DynamicCache` with preallocated full-attention layers.

Both decoding paths of `rlhf.rollout.decoder` use it: the model's own forward through the `Cache`
interface, the fast path by calling each layer's `update` itself.

`DynamicCache` appends each step's keys and values with `torch.cat`, which copies the whole cache
of every layer at every step: O(T^2) memory traffic over a response, and on the CPU (measured in
`benchmarks/generate_speed.py`) the largest single cost of a decoding step for a small policy.
`StaticCache` avoids the copy but attends over its whole capacity at every step.

`PreallocatedLayer` does neither: it allocates (B, heads, capacity, head_dim) once, at the prefill,
writes each step's keys and values into the next free columns, and hands attention a view of the
columns filled so far. Everything else (mask sizes, sequence length, dropping rows) behaves as in
`DynamicLayer`, so the model code cannot tell the difference. Sliding-window layers (models whose
config asks for them) keep `transformers`' own layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

__all__ = ["PreallocatedLayer", "generation_cache"]


class PreallocatedLayer(DynamicLayer):  # type: ignore[no-untyped-call]  # untyped in transformers
    """A full-attention cache layer holding up to `capacity` positions without reallocating."""

    def __init__(self, capacity: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.capacity = capacity
        self.length = 0
        self._key_buffer = torch.empty(0)  # (B, heads, capacity, head_dim) after the prefill
        self._value_buffer = torch.empty(0)

    def lazy_initialization(self, key_states: Tensor, value_states: Tensor) -> None:
        batch, heads = key_states.shape[:2]
        self.dtype, self.device = key_states.dtype, key_states.device
        shape = (batch, heads, self.capacity)
        self._key_buffer = key_states.new_empty((*shape, key_states.shape[-1]))
        self._value_buffer = value_states.new_empty((*shape, value_states.shape[-1]))
        self.length = 0
        self._refresh()
        self.is_initialized = True

    def update(
        self, key_states: Tensor, value_states: Tensor, *args: Any, **kwargs: Any
    ) -> tuple[Tensor, Tensor]:
        """Write the new positions after the filled ones; return keys and values so far."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise ValueError(
                f"the generation cache holds {self.capacity} positions and was asked for {end}; "
                "build it with generation_cache(config, capacity=prompt + max_new_tokens)."
            )
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self.length = end
        return self._refresh()

    def batch_select_indices(self, indices: Tensor) -> None:
        """Keep only the rows `indices` (rows that finished leave the batch)."""
        if self.is_initialized:
            self._key_buffer = self._key_buffer[indices]
            self._value_buffer = self._value_buffer[indices]
            self._refresh()

    def _refresh(self) -> tuple[Tensor, Tensor]:
        """Point `keys`/`values` at the filled columns (views, no copy) and return them."""
        keys = self._key_buffer[:, :, : self.length]
        values = self._value_buffer[:, :, : self.length]
        self.keys, self.values = keys, values
        return keys, values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def reset(self) -> None:
        self.length = 0
        if self.is_initialized:
            self._refresh()


def generation_cache(config: Any, *, capacity: int) -> Any:
    """A `DynamicCache` for `config` whose full-attention layers hold `capacity` positions each."""
    cache = DynamicCache(config=config)
    if not cache.layers:  # a config without layer types: the cache grows layers on first use
        layers = config.get_text_config(decoder=True).num_hidden_layers
        cache.layers = [PreallocatedLayer(capacity) for _ in range(layers)]
    cache.layers = [
        PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer
        for layer in cache.layers
    ]
    return cache
