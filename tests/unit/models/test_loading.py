"""Tests for `rlhf.models.loading`: safetensors round trips and errors for bad paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertModel, PreTrainedTokenizerFast

from rlhf.models import (
    ModelLoadError,
    TinyEncoderConfig,
    TinyModelConfig,
    load_causal_lm,
    load_encoder,
    load_tokenizer,
    save_model,
    tiny_causal_lm,
    tiny_encoder,
)
from rlhf.models.tiny import Arch


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_causal_lm_round_trips_through_safetensors(
    arch: Arch, tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    model = tiny_causal_lm(
        TinyModelConfig(arch=arch, vocab_size=len(tokenizer)), tokenizer=tokenizer
    )
    directory = save_model(model, tokenizer, tmp_path / "checkpoint")

    names = {p.name for p in directory.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(name.endswith(".bin") for name in names)

    loaded = load_causal_lm(directory)
    loaded_tokenizer = load_tokenizer(directory)
    assert type(loaded) is type(model)
    assert not loaded.training
    ids = torch.tensor([loaded_tokenizer.encode("The robot follows the river.")])  # (1, T)
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    assert loaded.config.pad_token_id == tokenizer.pad_token_id


def test_load_causal_lm_dtype_and_device(tmp_path: Path) -> None:
    save_model(tiny_causal_lm(TinyModelConfig(arch="llama", vocab_size=64)), None, tmp_path)
    loaded = load_causal_lm(tmp_path, dtype=torch.bfloat16, device="cpu")
    assert loaded.dtype == torch.bfloat16
    assert loaded.device == torch.device("cpu")
    assert not (tmp_path / "tokenizer.json").exists()


def test_encoder_round_trips(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    model = tiny_encoder(TinyEncoderConfig(vocab_size=len(tokenizer)), tokenizer=tokenizer)
    save_model(model, tokenizer, tmp_path)
    loaded = load_encoder(str(tmp_path))
    assert isinstance(loaded, BertModel)
    ids = torch.tensor([tokenizer.encode("A dog ignores the naïve student?")])  # (1, T)
    with torch.no_grad():
        assert torch.equal(
            loaded(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state
        )


@pytest.mark.parametrize("loader", [load_causal_lm, load_encoder, load_tokenizer])
def test_missing_path_names_the_path(loader: object, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError, match="does not exist") as error:
        loader(missing)  # type: ignore[operator]
    assert str(missing) in str(error.value)
    assert "save_pretrained" in str(error.value)


def test_directory_without_a_model_lists_its_contents(tmp_path: Path) -> None:
    for name in ("notes.txt", "data.csv"):
        (tmp_path / name).write_text("x")
    with pytest.raises(ModelLoadError, match=r"no config\.json") as error:
        load_causal_lm(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message
    assert "data.csv, notes.txt" in message


def test_long_listing_is_cut_short(tmp_path: Path) -> None:
    for i in range(15):
        (tmp_path / f"file{i:02d}").write_text("x")
    with pytest.raises(ModelLoadError, match="file09, and 5 more"):
        load_encoder(tmp_path)


def test_empty_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="it is empty"):
        load_causal_lm(tmp_path)


def test_config_without_weights_is_rejected(tmp_path: Path) -> None:
    model = tiny_causal_lm(TinyModelConfig(arch="gpt2", vocab_size=64))
    save_model(model, None, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no weights"):
        load_causal_lm(tmp_path)


def test_file_instead_of_directory_is_rejected(tmp_path: Path) -> None:
    model = tiny_causal_lm(TinyModelConfig(arch="gpt2", vocab_size=64))
    save_model(model, None, tmp_path)
    with pytest.raises(ModelLoadError, match="is a file, not a directory"):
        load_causal_lm(tmp_path / "config.json")
    with pytest.raises(ModelLoadError, match="it is a file"):
        save_model(model, None, tmp_path / "config.json")


def test_load_tokenizer_rejects_a_model_only_directory(tmp_path: Path) -> None:
    save_model(tiny_causal_lm(TinyModelConfig(arch="gpt2", vocab_size=64)), None, tmp_path)
    with pytest.raises(ModelLoadError, match="not a tokenizer directory") as error:
        load_tokenizer(tmp_path)
    assert "config.json" in str(error.value)
