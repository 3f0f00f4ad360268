"""Tests for `rlhf.models.tokenizer`: training, exact round trips, the chat template, caching."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import PreTrainedTokenizerFast

import rlhf.models.tokenizer as tokenizer_module
from rlhf.models import (
    DEFAULT_SPECIAL_TOKENS,
    EOS_TOKEN,
    PAD_TOKEN,
    load_tokenizer,
    tokenizer_cache_key,
    train_bpe_tokenizer,
)

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a fruit."},
]


@pytest.mark.parametrize(
    "text",
    [
        "The cat likes the river.",
        "héllo wörld, naïve café",
        "emoji 😀🎉👩‍👩‍👧 and flags 🇫🇷",
        "日本語のテキスト と 中文",
        "  leading and trailing spaces  ",
        "tabs\tand\nnew lines\r\n",
        "never seen: qzxj ÆØÅ ∑∫√ \x00\x7f",
        f"{EOS_TOKEN} special {PAD_TOKEN} tokens <|user|>",
        "",
    ],
)
def test_decode_inverts_encode(tokenizer: PreTrainedTokenizerFast, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_decode_inverts_encode_for_any_text(tokenizer: PreTrainedTokenizerFast, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_training_learns_merges_within_vocab_size(tokenizer: PreTrainedTokenizerFast) -> None:
    # 256 byte symbols + 5 special tokens, plus merges learned from the corpus.
    assert 256 + len(DEFAULT_SPECIAL_TOKENS) < len(tokenizer) <= 400
    assert len(tokenizer.encode("The cat likes the river.")) < len("The cat likes the river.")


def test_special_tokens(tokenizer: PreTrainedTokenizerFast) -> None:
    assert tokenizer.eos_token == EOS_TOKEN
    assert tokenizer.bos_token == EOS_TOKEN
    assert tokenizer.pad_token == PAD_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    # Special tokens take the first ids, in order, and encode as one token each.
    for expected_id, token in enumerate(DEFAULT_SPECIAL_TOKENS):
        assert tokenizer.convert_tokens_to_ids(token) == expected_id
        assert tokenizer.encode(token) == [expected_id]
    assert tokenizer.decode(tokenizer.encode(f"hi{EOS_TOKEN}"), skip_special_tokens=True) == "hi"


def test_chat_template_renders_conversation(tokenizer: PreTrainedTokenizerFast) -> None:
    rendered = tokenizer.apply_chat_template(CONVERSATION[:3], tokenize=False)
    assert rendered == (
        "<|system|>\nBe brief.\n<|user|>\nHi there\n<|assistant|>\nHello!<|endoftext|>\n"
    )


def test_chat_template_generation_prompt(tokenizer: PreTrainedTokenizerFast) -> None:
    prompt = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert isinstance(prompt, str)
    assert prompt.endswith("<|user|>\nName a fruit.\n<|assistant|>\n")
    without = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert isinstance(without, str)
    assert without.endswith("<|user|>\nName a fruit.\n")


def test_chat_template_tokens_end_assistant_turn_with_eos(
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    ids = tokenizer.apply_chat_template(CONVERSATION[:3], tokenize=True, return_dict=False)
    newline = tokenizer.encode("\n")
    assert ids[-1 - len(newline) :] == [tokenizer.eos_token_id, *newline]
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|system|>")


def test_save_and_load_keeps_encoding_and_template(
    tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    tokenizer.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    text = "Zoë paints a red kite 🪁"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.decode(loaded.encode(text)) == text
    assert loaded.chat_template == tokenizer.chat_template
    assert (loaded.eos_token, loaded.pad_token) == (EOS_TOKEN, PAD_TOKEN)


class _TrainSpy:
    """Wraps the module's private training function to count real trainings."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._train = tokenizer_module._train
        monkeypatch.setattr(tokenizer_module, "_train", self)

    def __call__(self, *args: object, **kwargs: object) -> PreTrainedTokenizerFast:
        self.calls += 1
        return self._train(*args, **kwargs)  # type: ignore[arg-type]


def test_second_call_loads_from_cache(
    corpus: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _TrainSpy(monkeypatch)
    first = train_bpe_tokenizer(corpus, vocab_size=400, cache_dir=tmp_path)
    (entry,) = tmp_path.iterdir()  # one complete entry, no leftover temporary directory
    assert (entry / "tokenizer.json").is_file()
    mtimes = {p.name: p.stat().st_mtime_ns for p in entry.iterdir()}

    second = train_bpe_tokenizer(iter(corpus), vocab_size=400, cache_dir=tmp_path)

    assert spy.calls == 1
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]
    assert {p.name: p.stat().st_mtime_ns for p in entry.iterdir()} == mtimes
    text = "The café owner follows 日本の山 😀"
    assert second.encode(text) == first.encode(text)
    assert second.chat_template == first.chat_template
    assert (second.eos_token, second.pad_token) == (EOS_TOKEN, PAD_TOKEN)


def test_cached_tokenizer_matches_a_fresh_one(corpus: list[str], tmp_path: Path) -> None:
    fresh = train_bpe_tokenizer(corpus, vocab_size=400)
    train_bpe_tokenizer(corpus, vocab_size=400, cache_dir=tmp_path)
    cached = train_bpe_tokenizer(corpus, vocab_size=400, cache_dir=tmp_path)
    assert cached.get_vocab() == fresh.get_vocab()


def test_different_inputs_get_different_cache_entries(
    corpus: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _TrainSpy(monkeypatch)
    train_bpe_tokenizer(corpus, vocab_size=400, cache_dir=tmp_path)
    train_bpe_tokenizer([*corpus, "one more sentence"], vocab_size=400, cache_dir=tmp_path)
    train_bpe_tokenizer(corpus, vocab_size=300, cache_dir=tmp_path)
    assert spy.calls == 3
    assert len(list(tmp_path.iterdir())) == 3


def test_cache_key_depends_on_texts_and_params() -> None:
    params = {"vocab_size": 400, "min_frequency": 2}
    key = tokenizer_cache_key(["ab", "c"], params)
    assert len(key) == 64
    assert key == tokenizer_cache_key(["ab", "c"], {"min_frequency": 2, "vocab_size": 400})
    assert key != tokenizer_cache_key(["a", "bc"], params)
    assert key != tokenizer_cache_key(["abc"], params)
    assert key != tokenizer_cache_key(["ab", "c"], {**params, "vocab_size": 401})


def test_interrupted_runs_leave_no_usable_cache_entry(
    corpus: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_save(self: PreTrainedTokenizerFast, directory: str | os.PathLike[str]) -> None:
        (Path(directory) / "tokenizer.json").write_text("{half a fi")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(PreTrainedTokenizerFast, "save_pretrained", failing_save)
        with pytest.raises(KeyboardInterrupt):
            train_bpe_tokenizer(corpus, vocab_size=400, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []

    # What a SIGKILL leaves behind: a staging directory, or an entry without tokenizer.json.
    key = tokenizer_cache_key(
        corpus,
        {
            "vocab_size": 400,
            "min_frequency": 2,
            "model_max_length": 1024,
            "special_tokens": list(DEFAULT_SPECIAL_TOKENS),
        },
    )
    (tmp_path / f".tmp-{key[:16]}-killed").mkdir()
    (tmp_path / key).mkdir()
    (tmp_path / key / "tokenizer_config.json").write_text("{}")

    tokenizer = train_bpe_tokenizer(corpus, vocab_size=400, cache_dir=tmp_path)
    assert tokenizer.decode(tokenizer.encode("Zoë 🪁")) == "Zoë 🪁"
    assert (tmp_path / key / "tokenizer.json").is_file()
    assert load_tokenizer(tmp_path / key).encode("Zoë 🪁") == tokenizer.encode("Zoë 🪁")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 100}, "at least 261"),
        ({"special_tokens": (EOS_TOKEN,)}, PAD_TOKEN),
        ({"special_tokens": (EOS_TOKEN, PAD_TOKEN, PAD_TOKEN)}, "duplicates"),
        ({"min_frequency": 0}, "min_frequency"),
    ],
)
def test_bad_arguments_are_rejected_with_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train_bpe_tokenizer(["some text"], **kwargs)  # type: ignore[arg-type]


def test_empty_texts_are_rejected() -> None:
    with pytest.raises(ValueError, match="no texts"):
        train_bpe_tokenizer([])
