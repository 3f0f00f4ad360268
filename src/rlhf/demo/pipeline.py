"""`rlhf demo`: what the project can do so far, end to end on its built-in task.

1. data: generate prompts and gold-labelled preference pairs; write them as rlhf JSONL.gz,
   Parquet and TRL; validate each file and check that every conversion round-trips exactly;
2. store: import the pairs into an SQLite store (WAL) in one transaction and export them back;
3. models: train a byte-level BPE tokenizer on the task's text, build a tiny GPT-2 from a config,
   check its untrained loss against the uniform-prediction value ln(vocab), save it with safetensors
   and reload it to identical outputs.

Every step checks what it did and raises `DemoCheckFailed` when a check fails.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf.data import PreferencePair, Record, load_records, write_records
from rlhf.demo.task import gold_pairs, make_prompts
from rlhf.errors import UserError

Say = Callable[[str], None]


class DemoCheckFailed(UserError):
    """A demo step produced something other than what it checks for."""


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    output: Path = Path("runs/demo")
    """Directory for the demo's files (data, store, tokenizer, model)."""
    prompts: int = 400
    """Number of built-in prompts to generate."""
    vocab_size: int = 384
    """Vocabulary size of the tokenizer trained on the task's text."""
    seed: int = 0
    """Seed for data generation and model initialization."""

    def __post_init__(self) -> None:
        if self.prompts < 10:
            raise ValueError(f"prompts must be at least 10, got {self.prompts}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoCheckFailed(message)


@contextmanager
def _phase(name: str, timings: dict[str, float], say: Say) -> Iterator[None]:
    say(f"[{name}]")
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def _data_step(config: DemoConfig, pairs: list[PreferencePair], say: Say) -> dict[str, Any]:
    data_dir = config.output / "data"
    files = {
        "rlhf": data_dir / "pairs.jsonl.gz",
        "parquet": data_dir / "pairs.parquet",
        "trl": data_dir / "pairs.trl.jsonl",
    }
    for name, path in files.items():
        write_records(pairs, path, format="trl" if name == "trl" else "rlhf")
        loaded: list[Record] = load_records(path)  # raises with every problem if one is invalid
        _check(loaded == pairs, f"{path} did not read back to the records written")
        say(f"  wrote and validated {path} ({path.stat().st_size} bytes): round trip exact")
    ties = sum(p.tie for p in pairs)
    say(f"  {len(pairs)} gold-labelled pairs, {ties} ties")
    return {"pairs": len(pairs), "ties": ties, "files": {k: str(v) for k, v in files.items()}}


def _store_step(config: DemoConfig, pairs: list[PreferencePair], say: Say) -> dict[str, Any]:
    """Import into the demo's store (idempotent: a rerun skips what is there) and export back."""
    from rlhf.store import Store

    db = config.output / "feedback.db"
    with Store.open(f"sqlite:///{db}") as store:
        report = store.import_records(pairs)
        exported = store.export_pairs()
        counts = store.counts()
    missing = [p for p in pairs if p not in exported]
    _check(not missing, f"{len(missing)} imported pairs are missing from the store's export")
    say(f"  imported into {db}: {report}; every pair exports back unchanged")
    return {"db": str(db), "tables": counts}


def _model_step(config: DemoConfig, pairs: list[PreferencePair], say: Say) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F  # noqa: N812 - the conventional name

    from rlhf.models import (
        TinyModelConfig,
        load_causal_lm,
        save_model,
        tiny_causal_lm,
        train_bpe_tokenizer,
    )

    texts = [f"{p.prompt} {p.chosen}" for p in pairs] + [f"{p.prompt} {p.rejected}" for p in pairs]
    tokenizer = train_bpe_tokenizer(
        texts, vocab_size=config.vocab_size, cache_dir=config.output / "cache"
    )
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    say(
        f"  tokenizer: {len(tokenizer)} tokens; a pair text is {sum(lengths) / len(lengths):.1f} tokens on average"
    )
    model = tiny_causal_lm(
        TinyModelConfig(arch="gpt2", vocab_size=len(tokenizer), seed=config.seed),
        tokenizer=tokenizer,
    )
    batch = tokenizer(texts[:32], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train(False)
    with torch.no_grad():
        logits = model(**batch).logits  # (B, T, V)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()).item()
    uniform = math.log(len(tokenizer))
    _check(
        abs(loss - uniform) < 0.5,
        f"untrained loss {loss:.3f} is far from ln(vocab) = {uniform:.3f}",
    )
    model_dir = config.output / "tiny-gpt2"
    save_model(model, tokenizer, model_dir)
    reloaded = load_causal_lm(model_dir)
    with torch.no_grad():
        same = torch.equal(model(**batch).logits, reloaded(**batch).logits)
    _check(same, "the reloaded model's outputs differ from the saved model's")
    parameters = sum(p.numel() for p in model.parameters())
    say(
        f"  tiny GPT-2 ({parameters:,} parameters): untrained loss {loss:.3f} vs ln(vocab) {uniform:.3f}"
    )
    say(f"  saved to {model_dir} (safetensors) and reloaded: identical logits")
    return {
        "vocab": len(tokenizer),
        "parameters": parameters,
        "untrained_loss": round(loss, 4),
        "ln_vocab": round(uniform, 4),
    }


def run_demo(config: DemoConfig, say: Say) -> dict[str, Any]:
    """Run every step and return the summary (figures, and seconds per step)."""
    start = time.perf_counter()
    timings: dict[str, float] = {}
    pairs = gold_pairs(make_prompts(config.prompts, seed=config.seed), seed=config.seed)
    config.output.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"output": str(config.output)}
    with _phase("data: generate, write, validate, convert", timings, say):
        summary["data"] = _data_step(config, pairs, say)
    with _phase("store: import and export", timings, say):
        summary["store"] = _store_step(config, pairs, say)
    with _phase("models: tokenizer and tiny language model", timings, say):
        summary["model"] = _model_step(config, pairs, say)
    summary["timings"] = timings
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary
