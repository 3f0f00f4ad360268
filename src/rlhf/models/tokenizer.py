"""A byte-level BPE tokenizer trained locally on given text, with a chat template and a disk cache.

The tokenizer works on UTF-8 bytes (GPT-2 style), so every string encodes, including accents,
CJK and emoji, and `decode(encode(text)) == text` holds exactly. Its special tokens:

- `<|endoftext|>` is the eos token, and also the bos token (as in GPT-2); the chat template puts it
  after every assistant turn, so generation stops there.
- `<|pad|>` is the pad token, kept apart from eos so that masking padding never masks a real eos.
- `<|system|>`, `<|user|>`, `<|assistant|>` open a turn in the chat template.

Training is cached: with `cache_dir`, the tokenizer is saved under
`cache_dir/<sha256 of the texts and training parameters>/`, and a later call with the same inputs
loads it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_SPECIAL_TOKENS",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "tokenizer_cache_key",
    "train_bpe_tokenizer",
]

EOS_TOKEN = "<|endoftext|>"
"""End of a document or an assistant turn; also used as bos."""

PAD_TOKEN = "<|pad|>"
"""Padding; never produced by the chat template."""

DEFAULT_SPECIAL_TOKENS: tuple[str, ...] = (
    EOS_TOKEN,
    PAD_TOKEN,
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
)
"""Special tokens of a trained tokenizer; they get the first ids, in this order."""

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
"""Jinja chat template: each turn is `<|role|>\\n{content}\\n`, with eos right after an assistant's
content; `add_generation_prompt=True` appends `<|assistant|>\\n`. For example
`[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]` renders as
`<|user|>\\nHi\\n<|assistant|>\\nHello<|endoftext|>\\n`."""

_BYTE_ALPHABET_SIZE = 256
_CACHE_FORMAT = 1
"""Bump when the saved layout or training recipe changes, so old cache entries are not reused."""


def train_bpe_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 512,
    min_frequency: int = 2,
    model_max_length: int = 1024,
    cache_dir: str | os.PathLike[str] | None = None,
    special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts`, or load it from `cache_dir` if trained before.

    Args:
        texts: Training text; it is read once, into memory (this is for small corpora).
        vocab_size: Size of the final vocabulary, special tokens and the 256 byte symbols
            included; it is an upper bound, reached only if the text has enough distinct merges.
        min_frequency: A pair must occur at least this often to be merged.
        model_max_length: The tokenizer's `model_max_length` (longest sequence it reports).
        cache_dir: Directory for trained tokenizers; `None` always trains and caches nothing.
        special_tokens: Special tokens, given the first ids in order. Must contain `EOS_TOKEN` and
            `PAD_TOKEN`; the role tokens are optional (the template spells them out regardless).

    Returns:
        A `PreTrainedTokenizerFast` with eos = bos = `<|endoftext|>`, pad = `<|pad|>` and
        `CHAT_TEMPLATE`; `save_pretrained` / `from_pretrained` work as usual.

    Raises:
        ValueError: `vocab_size` is too small, `special_tokens` lacks eos or pad, or `texts` is
            empty.
    """
    special = tuple(special_tokens)
    _check_training_args(vocab_size=vocab_size, min_frequency=min_frequency, special=special)
    corpus = list(texts)
    if not corpus:
        raise ValueError("train_bpe_tokenizer got no texts; pass at least one training string.")
    params = {
        "vocab_size": vocab_size,
        "min_frequency": min_frequency,
        "model_max_length": model_max_length,
        "special_tokens": list(special),
    }
    entry = None if cache_dir is None else Path(cache_dir) / tokenizer_cache_key(corpus, params)
    if entry is not None and (entry / "tokenizer.json").is_file():
        logger.info("loading cached tokenizer from %s", entry)
        cached: PreTrainedTokenizerFast = PreTrainedTokenizerFast.from_pretrained(
            entry, local_files_only=True
        )
        return cached
    tokenizer = _train(
        corpus,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        model_max_length=model_max_length,
        special_tokens=list(special),
    )
    if entry is None:
        return tokenizer
    _save_atomically(tokenizer, entry)
    return tokenizer


def tokenizer_cache_key(texts: Sequence[str], params: Mapping[str, object]) -> str:
    """The cache key of a training run: sha256 (hex) of the texts and the training parameters.

    Each text is hashed with its length in front, so `["ab", "c"]` and `["a", "bc"]` differ.
    `params` (the training arguments) must be JSON-serialisable; their order does not matter.
    """
    digest = hashlib.sha256()
    header = {"format": _CACHE_FORMAT, "params": params}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for text in texts:
        data = text.encode("utf-8", errors="surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _check_training_args(*, vocab_size: int, min_frequency: int, special: tuple[str, ...]) -> None:
    """Raise `ValueError`, with the fix, for arguments BPE training cannot honour."""
    missing = [token for token in (EOS_TOKEN, PAD_TOKEN) if token not in special]
    if missing:
        raise ValueError(
            f"special_tokens must include {', '.join(missing)} (the eos and pad tokens), got "
            f"{list(special)}. Add them, e.g. special_tokens=DEFAULT_SPECIAL_TOKENS + (...)."
        )
    if len(set(special)) != len(special):
        raise ValueError(f"special_tokens has duplicates: {list(special)}. List each once.")
    smallest = _BYTE_ALPHABET_SIZE + len(special)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size={vocab_size} is too small for a byte-level tokenizer: it needs "
            f"{_BYTE_ALPHABET_SIZE} byte symbols plus {len(special)} special tokens. Set "
            f"vocab_size to at least {smallest} (512 or more is typical)."
        )
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be at least 1, got {min_frequency}.")


def _train(
    texts: list[str],
    *,
    vocab_size: int,
    min_frequency: int,
    model_max_length: int,
    special_tokens: list[str],
) -> PreTrainedTokenizerFast:
    """Train byte-level BPE on `texts` and wrap it for transformers."""
    tokenizer = Tokenizer(models.BPE())
    # No prefix space: a leading space is kept as typed, so decoding is the exact inverse.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        # All 256 byte symbols, seen in the text or not, so any input encodes without an unk.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    logger.info(
        "trained a byte-level BPE tokenizer: %d tokens from %d texts",
        tokenizer.get_vocab_size(),
        len(texts),
    )
    # transformers leaves this __init__ unannotated (*args, **kwargs), hence the ignore.
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=CHAT_TEMPLATE,
        model_max_length=model_max_length,
        # The default clean-up rewrites " ." to "." on decode, which breaks exact round trips.
        clean_up_tokenization_spaces=False,
    )


def _save_atomically(tokenizer: PreTrainedTokenizerFast, entry: Path) -> None:
    """Save `tokenizer` to `entry` so that `entry` is either absent or complete, never partial.

    The files are written to a temporary directory beside `entry` and renamed into place; a
    killed run leaves only a `.tmp-*` directory, which is never read. If another process won the
    race, its (identical) entry is kept.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name[:16]}-", dir=entry.parent))
    try:
        tokenizer.save_pretrained(staging)
        if entry.exists() and not (entry / "tokenizer.json").is_file():
            logger.warning("replacing incomplete tokenizer cache entry %s", entry)
            shutil.rmtree(entry)
        try:
            staging.rename(entry)
        except OSError:
            if not (entry / "tokenizer.json").is_file():
                raise
            logger.debug("tokenizer cache entry %s was written concurrently; keeping it", entry)
        else:
            logger.info("cached tokenizer in %s", entry)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
