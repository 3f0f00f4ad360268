"""Text embeddings cached on disk, keyed by a hash of the text, so a frozen encoder runs once per text.

Layout: `DIR/NAMESPACE/shard-*.safetensors`, each shard holding `digests` (n, 32) uint8 (sha256 of
the UTF-8 text) and `embeddings` (n, D) float32. The namespace names the encoder and its settings,
so embeddings of different encoders never mix. New embeddings are written in shards of at most
`shard_size` texts, each to a temporary file renamed into place: a killed run loses at most the
shard it was computing, never leaves a partial one, and concurrent runs at worst compute an
embedding twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingCache", "default_cache_dir", "text_digest"]

_SHARD_GLOB = "shard-*.safetensors"
_NAMESPACE = re.compile(r"^[A-Za-z0-9._-]+$")


def default_cache_dir() -> Path:
    """`$RLHF_CACHE/embeddings`, else `$XDG_CACHE_HOME/rlhf/embeddings`, else `~/.cache/...`."""
    if "RLHF_CACHE" in os.environ:
        return Path(os.environ["RLHF_CACHE"]) / "embeddings"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "rlhf" / "embeddings"


def text_digest(text: str) -> bytes:
    """The cache key of a text: its sha256 (32 bytes)."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).digest()


class EmbeddingCache:
    """Embeddings of texts under one encoder, read from and added to a directory of shards."""

    def __init__(self, directory: Path | str, namespace: str, *, shard_size: int = 1024) -> None:
        if not _NAMESPACE.match(namespace):
            raise ValueError(
                f"cache namespace must be letters, digits, '.', '_', '-': {namespace!r}"
            )
        self.directory = Path(directory) / namespace
        self.shard_size = shard_size
        """New embeddings are written in shards of at most this many texts."""
        self._rows: dict[bytes, Tensor] = {}
        self._loaded: set[str] = set()

    def __len__(self) -> int:
        self._load_new_shards()
        return len(self._rows)

    def embed(
        self, texts: Sequence[str], encode: Callable[[list[str]], Tensor]
    ) -> tuple[Tensor, int]:
        """Embeddings (N, D) of `texts`; texts not in the cache are encoded once and stored.

        Args:
            texts: The texts, duplicates allowed.
            encode: Computes embeddings (n, D) of a list of texts.

        Returns:
            The embeddings in the order of `texts`, and how many distinct texts were encoded.
        """
        self._load_new_shards()
        digests = [text_digest(t) for t in texts]
        missing: dict[bytes, str] = {}
        for digest, text in zip(digests, texts, strict=True):
            if digest not in self._rows:
                missing.setdefault(digest, text)
        if missing:
            logger.info("encoding %d new texts (%d cached)", len(missing), len(self._rows))
            keys = list(missing)
            for start in range(0, len(keys), self.shard_size):  # a kill loses one shard at most
                chunk = keys[start : start + self.shard_size]
                new = encode([missing[k] for k in chunk]).detach().float().cpu()
                self._store(chunk, new)
        if not digests:
            return torch.zeros(0, 0), 0
        return torch.stack([self._rows[d] for d in digests]), len(missing)

    def _store(self, digests: list[bytes], embeddings: Tensor) -> None:
        digest_rows = torch.tensor([list(d) for d in digests], dtype=torch.uint8)  # (n, 32)
        for digest, row in zip(digests, embeddings, strict=True):
            self._rows[digest] = row
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"shard-{hashlib.sha256(b''.join(digests)).hexdigest()[:20]}.safetensors"
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        os.close(handle)
        try:
            save_file({"digests": digest_rows, "embeddings": embeddings.contiguous()}, temporary)
            os.replace(temporary, self.directory / name)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        self._loaded.add(name)
        logger.debug("cached %d embeddings in %s", len(digests), self.directory / name)

    def _load_new_shards(self) -> None:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(_SHARD_GLOB)):
            if path.name in self._loaded:
                continue
            tensors = load_file(path)
            for digest, row in zip(tensors["digests"], tensors["embeddings"], strict=True):
                self._rows[bytes(digest.tolist())] = row
            self._loaded.add(path.name)
