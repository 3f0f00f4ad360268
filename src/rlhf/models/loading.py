"""Loading and saving Hugging Face models and tokenizers from local directories.

Everything here reads from disk only: each `from_pretrained` call passes `local_files_only=True`,
so a path that is not a local checkpoint fails fast with a `ModelLoadError` instead of trying the
Hub. Nothing global (environment variables, library settings) is changed.

A checkpoint directory is what `save_pretrained` writes (see `save_model`): a `config.json`, the
weights as `model.safetensors` (or a sharded `model.safetensors.index.json`), and, when saved with
one, the tokenizer files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from rlhf.errors import UserError

logger = logging.getLogger(__name__)

__all__ = [
    "ModelLoadError",
    "load_causal_lm",
    "load_encoder",
    "load_tokenizer",
    "save_model",
]

_SAFETENSORS_SUFFIX = ".safetensors"
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_LISTED_NAMES = 10
"""How many directory entries an error message shows."""


class ModelLoadError(UserError):
    """A path given to a loader is not a usable local model or tokenizer directory."""


def load_causal_lm(
    path: str | os.PathLike[str],
    *,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
) -> PreTrainedModel:
    """Load a causal language model (any `AutoModelForCausalLM` architecture) from a local dir.

    Args:
        path: A directory written by `save_pretrained` (for example by `save_model`).
        dtype: Parameter dtype (`torch.float32`, `"bfloat16"`, `"auto"`, ...); `None` keeps the
            transformers default.
        device: Where to move the model after loading (`"cpu"`, `"cuda:0"`); `None` leaves it
            where transformers puts it (the CPU).

    Returns:
        The model, in eval mode (as `from_pretrained` returns it).

    Raises:
        ModelLoadError: `path` does not exist, is not a directory, or holds no model.
    """
    directory = _model_dir(path, what="causal LM")
    model = AutoModelForCausalLM.from_pretrained(
        directory, **_from_pretrained_kwargs(directory, dtype=dtype)
    )
    return _place(model, device)


def load_encoder(
    path: str | os.PathLike[str],
    *,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
) -> PreTrainedModel:
    """Load an encoder (any `AutoModel` architecture, e.g. BERT) from a local directory.

    Args and errors are those of `load_causal_lm`. The model is the bare backbone (no task head):
    its output has `last_hidden_state` of shape (B, T, hidden_size).
    """
    directory = _model_dir(path, what="encoder")
    model = AutoModel.from_pretrained(directory, **_from_pretrained_kwargs(directory, dtype=dtype))
    return _place(model, device)


def load_tokenizer(path: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """Load a tokenizer saved with `save_pretrained` from a local directory.

    Raises:
        ModelLoadError: `path` does not exist, is not a directory, or holds no tokenizer files
            (`tokenizer.json` or `tokenizer_config.json`).
    """
    directory = _existing_dir(path, what="tokenizer")
    if not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError(
            f"{directory} is not a tokenizer directory: it has none of "
            f"{', '.join(_TOKENIZER_FILES)} (it holds {_list_dir(directory)}). Pass the directory "
            "a tokenizer was saved to with tokenizer.save_pretrained(path) or "
            "rlhf.models.save_model(model, tokenizer, path)."
        )
    logger.debug("loading tokenizer from %s", directory)
    return AutoTokenizer.from_pretrained(directory, local_files_only=True)


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase | None,
    path: str | os.PathLike[str],
) -> Path:
    """Save a model (as safetensors) and optionally its tokenizer to one directory.

    The directory (created with its parents if missing) can then be read by `load_causal_lm` /
    `load_encoder` and `load_tokenizer`. transformers 5 always writes safetensors; this function
    checks that it did, so a checkpoint never silently falls back to pickle.

    Returns:
        The directory, as a `Path`.

    Raises:
        ModelLoadError: `path` exists and is a file, or no `.safetensors` file was written.
    """
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise ModelLoadError(
            f"cannot save a model to {directory}: it is a file. Pass a directory path (it is "
            "created if missing)."
        )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    if not _has_safetensors(directory):
        raise ModelLoadError(
            f"saving {type(model).__name__} to {directory} wrote no .safetensors file (it holds "
            f"{_list_dir(directory)}). Use transformers>=5, which always saves safetensors."
        )
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    logger.info("saved %s to %s", type(model).__name__, directory)
    return directory


def _existing_dir(path: str | os.PathLike[str], *, what: str) -> Path:
    """Return `path` as a `Path` if it is an existing directory, else raise `ModelLoadError`."""
    directory = Path(path)
    if not directory.exists():
        raise ModelLoadError(
            f"{what} path {directory} does not exist. It must be a local directory made by "
            "save_pretrained() (for example rlhf.models.save_model(model, tokenizer, path)); "
            "models are never downloaded. Check the path, or save the model there first."
        )
    if not directory.is_dir():
        raise ModelLoadError(
            f"{what} path {directory} is a file, not a directory. Pass the directory that "
            "save_pretrained() wrote (the one holding config.json), not a file inside it."
        )
    return directory


def _model_dir(path: str | os.PathLike[str], *, what: str) -> Path:
    """Check that `path` is a directory holding `config.json` and weights; return it."""
    directory = _existing_dir(path, what=what)
    if not (directory / "config.json").is_file():
        raise ModelLoadError(
            f"{directory} is not a {what} directory: it has no config.json (it holds "
            f"{_list_dir(directory)}). Pass a directory made by save_pretrained(), or by "
            "rlhf.models.save_model(model, tokenizer, path)."
        )
    if not any((directory / name).is_file() for name in _WEIGHT_FILES):
        raise ModelLoadError(
            f"{directory} has a config.json but no weights (expected one of "
            f"{', '.join(_WEIGHT_FILES)}; it holds {_list_dir(directory)}). The save was probably "
            "interrupted: save the model again with save_pretrained()."
        )
    return directory


def _from_pretrained_kwargs(directory: Path, *, dtype: torch.dtype | str | None) -> dict[str, Any]:
    """Keyword arguments for `from_pretrained`: local only, safetensors when present."""
    kwargs: dict[str, Any] = {"local_files_only": True}
    if _has_safetensors(directory):
        kwargs["use_safetensors"] = True
    if dtype is not None:
        kwargs["dtype"] = dtype
    logger.debug("loading %s with %s", directory, kwargs)
    return kwargs


def _place(model: PreTrainedModel, device: torch.device | str | None) -> PreTrainedModel:
    """Move `model` to `device` when one is given."""
    if device is not None:
        # transformers wraps `to` with functools.wraps, which hides the bound self from mypy.
        model = model.to(device)  # type: ignore[arg-type]
    return model


def _has_safetensors(directory: Path) -> bool:
    """Whether `directory` holds at least one `.safetensors` file."""
    return any(p.suffix == _SAFETENSORS_SUFFIX for p in directory.iterdir())


def _list_dir(directory: Path) -> str:
    """The first few entry names of `directory`, sorted, for error messages."""
    names = sorted(p.name for p in directory.iterdir())
    if not names:
        return "nothing: it is empty"
    shown = ", ".join(names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return f"{shown}, and {more} more" if more > 0 else shown
