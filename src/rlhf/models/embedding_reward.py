"""A reward model on frozen sentence embeddings (all-MiniLM-L6-v2) with a linear or MLP head.

Each (prompt, response) becomes a vector of embedding blocks (the table `BLOCKS`):

- `response`: the embedding of the response alone (what it says, its tone: a refusal, an answer);
- `joint`: the embedding of prompt and response as one text (truncated from the left, so the
  response and the latest turns are kept): whether the response fits the conversation;
- `prompt_x_response`: the elementwise product of the prompt's and the response's embeddings,
  whose sum is their cosine similarity: lets a linear head weigh relevance per dimension.

Embeddings are cached on disk by a hash of the text (`EmbeddingCache`), so a second training run on
the same data encodes nothing and takes seconds; the encoder is only loaded when a text is new.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rlhf.data.records import Text, render_plain
from rlhf.models.embedding_cache import EmbeddingCache, default_cache_dir
from rlhf.models.loading import ModelLoadError
from rlhf.models.minilm import MINILM_MAX_LENGTH, SentenceEncoder, minilm_version
from rlhf.models.reward_scoring import Normalization, RewardCard
from rlhf.models.vector_reward import RewardHeads, VectorRewardModel

logger = logging.getLogger(__name__)

__all__ = ["BLOCKS", "DEFAULT_BLOCKS", "EmbeddingRewardModel"]

ENCODER_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384

Embed = Callable[[list[str]], Tensor]
"""Embeddings (N, D) of texts, through the cache."""


def _response(prompts: Sequence[Text], responses: Sequence[Text], embed: Embed) -> Tensor:
    return embed([render_plain(r) for r in responses])


def _joint(prompts: Sequence[Text], responses: Sequence[Text], embed: Embed) -> Tensor:
    texts = [
        f"{render_plain(p)}\n\n{render_plain(r)}" for p, r in zip(prompts, responses, strict=True)
    ]
    return embed(texts)


def _prompt_x_response(prompts: Sequence[Text], responses: Sequence[Text], embed: Embed) -> Tensor:
    return embed([render_plain(p) for p in prompts]) * _response(prompts, responses, embed)


BLOCKS: dict[str, Callable[[Sequence[Text], Sequence[Text], Embed], Tensor]] = {
    "response": _response,
    "joint": _joint,
    "prompt_x_response": _prompt_x_response,
}
"""Embedding blocks a (prompt, response) vector can be made of, each EMBEDDING_DIM wide."""

DEFAULT_BLOCKS: tuple[str, ...] = ("response", "joint")


class EmbeddingRewardModel(VectorRewardModel):
    """Heads on cached MiniLM embeddings of each (prompt, response)."""

    kind = "embedding"

    def __init__(
        self,
        heads: RewardHeads,
        *,
        blocks: Sequence[str] = DEFAULT_BLOCKS,
        cache_dir: Path | None = None,
        normalization: Normalization | None = None,
    ) -> None:
        super().__init__(heads, normalization=normalization)
        unknown = [b for b in blocks if b not in BLOCKS]
        if unknown or not blocks:
            raise ValueError(f"unknown embedding blocks {unknown}; choose from {', '.join(BLOCKS)}")
        if heads.dim != EMBEDDING_DIM * len(blocks):
            raise ValueError(f"head width {heads.dim} does not fit {len(blocks)} embedding blocks")
        self.blocks = tuple(blocks)
        namespace = f"{ENCODER_NAME}-{minilm_version()}-len{MINILM_MAX_LENGTH}"
        self.cache = EmbeddingCache(cache_dir or default_cache_dir(), namespace)
        self._encoder: SentenceEncoder | None = None
        self.encoded = 0
        """How many texts this model had to encode (not found in the cache)."""

    @classmethod
    def create(
        cls,
        *,
        blocks: Sequence[str] = DEFAULT_BLOCKS,
        heads: int = 1,
        hidden: int = 0,
        seed: int = 0,
        cache_dir: Path | None = None,
    ) -> EmbeddingRewardModel:
        """A new model with freshly initialized heads."""
        head = RewardHeads(EMBEDDING_DIM * len(blocks), heads=heads, hidden=hidden, seed=seed)
        return cls(head, blocks=blocks, cache_dir=cache_dir)

    def _embed(self, texts: list[str]) -> Tensor:
        def encode(new: list[str]) -> Tensor:
            if self._encoder is None:
                self._encoder = SentenceEncoder.minilm()
            return self._encoder.encode(new)

        embeddings, encoded = self.cache.embed(texts, encode)
        self.encoded += encoded
        return embeddings.reshape(len(texts), EMBEDDING_DIM)

    def featurize(self, prompts: Sequence[Text], responses: Sequence[Text]) -> Tensor:
        parts = [BLOCKS[name](prompts, responses, self._embed) for name in self.blocks]
        return torch.cat(parts, dim=-1)

    def settings(self) -> dict[str, Any]:
        return {
            "encoder": ENCODER_NAME,
            "encoder_version": minilm_version(),
            "max_length": MINILM_MAX_LENGTH,
            "blocks": list(self.blocks),
        }

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike[str],
        *,
        device: str | None = None,
        cache_dir: Path | None = None,
    ) -> EmbeddingRewardModel:
        path = Path(directory)
        card = RewardCard.read(path)
        heads = cls.load_heads(path, card)
        blocks = card.settings.get("blocks")
        if not isinstance(blocks, list):
            raise ModelLoadError(f"{path}: the card has no list of embedding blocks")
        if card.settings.get("encoder_version") != minilm_version():
            logger.warning(
                "%s was trained on embeddings of %s %s; %s is installed",
                path,
                ENCODER_NAME,
                card.settings.get("encoder_version"),
                minilm_version(),
            )
        model = cls(heads, blocks=blocks, cache_dir=cache_dir, normalization=card.normalization)
        model.objective, model.tie_nu = card.objective, card.tie_nu
        return model.to(device) if device else model
