"""SFT and DPO training speed: this project's training step against TRL's, and the achieved FLOP/s.

One run, one tiny GPT-2-shaped model (built by `rlhf.models.tiny_causal_lm`, weights seeded), one
byte-level BPE tokenizer trained here on the generated data, the same generated examples (about
96-128 tokens each) and the same batch settings for both frameworks, fp32 on the CPU with the same
torch thread count:

1. SFT: `rlhf.train.fit` with `CompletionLikelihood`, `pad_batch` and `row_length` (what
   `rlhf train sft` runs) vs TRL's `SFTTrainer` (completion-only loss, no packing).
2. DPO: `rlhf.train.fit` with `PreferenceObjective("sigmoid")`, `collate_pairs` and
   `pair_length` on reference log-probs from `reference_logps` (what `rlhf train dpo` runs) vs
   TRL's `DPOTrainer` with `precompute_ref_log_probs=True` (the same work as ours). Once per run
   also: ours with `--no-shared-prompt` (the prompt computed in both rows, as TRL does), and TRL
   with a live reference model.
3. The achieved FLOP/s of our SFT step as a fraction of this CPU's fp32 `torch.mm` peak.

Each job runs in its own worker process, so peak memory is that job's alone. Ours and TRL's
worker run side by side and take their optimizer steps in turns (one steps while the other waits),
so a change in the machine's load falls on both alike; who steps first alternates between rounds,
and the figures are medians over rounds. A step is timed from its start to the next step's start
(data, forward, backward, clipping, optimizer, metrics: the whole loop), after warmup steps;
setup (imports, tokenizing, reference log-probs) is outside the window. Memory is the worker's
peak resident set (`getrusage(RUSAGE_SELF).ru_maxrss`), and that minus the resident set after
imports and the model were built (what setting up and training added).

    .venv/bin/python benchmarks/train_speed.py            # about 5 minutes on 2 shared cores
    .venv/bin/python benchmarks/train_speed.py --quick    # smoke test, under a minute

Needs TRL: `pip install 'rlhf[bench]'`. Writes benchmarks/results/train_speed.json (or --output).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import importlib.metadata
import importlib.util
import itertools
import json
import os
import platform
import random
import select
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import StepTiming, cpu_model, loadavg, peak_rss_mb, rss_mb, tiny_gpt2, worker_env

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "train_speed.json"

JOBS = ("ours-sft", "trl-sft", "ours-dpo", "trl-dpo-precomputed")
"""Pairs (ours, TRL): each job in its own worker process, the two of a pair stepping in turns."""
EXTRA_JOBS = ("ours-dpo-separate-rows", "trl-dpo-live-ref")
"""Run in the first `extra_rounds` rounds only: our DPO with the chosen and rejected sequences in
separate rows (the prompt computed twice, as TRL does), and TRL keeping a live reference model."""


@dataclass(frozen=True)
class Settings(StepTiming):
    """What both frameworks share. Batch sizes count examples (SFT) or pairs (DPO)."""

    max_length: int = 128
    min_length: int = 96
    """Example lengths (prompt + completion + eos) are drawn uniformly from [min, max] tokens."""
    batch_size: int = 16
    micro_batch_size: int = 8
    lr: float = 1e-4
    beta: float = 0.1
    sft_examples: int = 128
    dpo_pairs: int = 64
    extra_rounds: int = 1
    """Rounds that also run the `EXTRA_JOBS`."""
    quick: bool = False

    @property
    def accumulation(self) -> int:
        return self.batch_size // self.micro_batch_size


QUICK = {
    "hidden_size": 64,
    "num_layers": 2,
    "vocab_size": 512,
    "max_length": 64,
    "min_length": 40,
    "batch_size": 4,
    "micro_batch_size": 2,
    "warmup_steps": 1,
    "timed_steps": 2,
    "sft_examples": 16,
    "dpo_pairs": 8,
    "rounds": 1,
}


# ---------------------------------------------------------------------------------------------
# Data: generated prompt/completion examples and preference pairs of controlled token lengths


def _lexicon(rng: random.Random, size: int = 8000) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "sh", "qu", "er"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(size)]


@functools.cache
def _zipf_weights(size: int) -> list[float]:
    """Cumulative weights of word ranks, p(rank) ~ 1 / rank (Zipf), as natural text has."""
    return list(itertools.accumulate(1 / rank for rank in range(1, size + 1)))


def _sentence_words(rng: random.Random, lexicon: list[str], count: int) -> list[str]:
    return rng.choices(lexicon, cum_weights=_zipf_weights(len(lexicon)), k=count)


def tokenizer_corpus(settings: Settings) -> list[str]:
    rng = random.Random(settings.seed)
    lexicon = _lexicon(rng)
    sentences = 300 if settings.quick else 1500
    return [" ".join(_sentence_words(rng, lexicon, 60)) for _ in range(sentences)]


def _text_of_tokens(
    rng: random.Random, lexicon: list[str], tokens: int, count: Callable[[str], int]
) -> str:
    """Words appended while `count(text)` stays within `tokens` (a leading space: a clean boundary)."""
    text = ""
    while True:
        word = _sentence_words(rng, lexicon, 1)[0]
        candidate = f"{text} {word}"
        if count(candidate) > tokens:
            return text or candidate
        text = candidate


def generate_data(settings: Settings, tokenizer: Any) -> dict[str, list[dict[str, str]]]:
    """SFT examples {prompt, completion} and DPO pairs {prompt, chosen, rejected}.

    Token lengths of prompt + completion + eos lie in [min_length, max_length]; the prompt takes
    about a third. Texts start with a space, so prompt and completion tokenize the same alone as
    concatenated (TRL tokenizes the concatenation, this project the parts).
    """
    rng = random.Random(settings.seed + 1)
    lexicon = _lexicon(random.Random(settings.seed))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def lengths() -> tuple[int, int]:
        total = rng.randint(settings.min_length, settings.max_length) - 1  # eos
        prompt = total // 3 + rng.randint(-4, 4)
        return prompt, total - prompt

    sft = []
    for _ in range(settings.sft_examples):
        p, c = lengths()
        sft.append(
            {
                "prompt": _text_of_tokens(rng, lexicon, p, count),
                "completion": _text_of_tokens(rng, lexicon, c, count),
            }
        )
    pairs = []
    for _ in range(settings.dpo_pairs):
        p, c = lengths()
        _, r = lengths()
        r = min(r, settings.max_length - 1 - p)
        pairs.append(
            {
                "prompt": _text_of_tokens(rng, lexicon, p, count),
                "chosen": _text_of_tokens(rng, lexicon, c, count),
                "rejected": _text_of_tokens(rng, lexicon, r, count),
            }
        )
    return {"sft": sft, "dpo": pairs}


# ---------------------------------------------------------------------------------------------
# Worker side: one framework, one algorithm, in this process


class _Turn:
    """Two worker processes take their optimizer steps in turns, so a drift in the machine's load
    falls on both alike: a process holds the turn for one step, then hands it to the other (one
    byte through a FIFO) and waits for it back. Without FIFOs (a lone worker) it does nothing."""

    TIMEOUT_S = 900.0

    def __init__(self, inbox: Path | None, outbox: Path | None, *, first: bool) -> None:
        # O_RDWR: opening a FIFO does not block, and writing never meets a closed reader
        self.inbox = os.open(inbox, os.O_RDWR) if inbox else None
        self.outbox = os.open(outbox, os.O_RDWR) if outbox else None
        self.waive = first  # the first process starts with the turn

    def acquire(self) -> None:
        if self.inbox is None or self.waive:
            self.waive = False
            return
        ready, _, _ = select.select([self.inbox], [], [], self.TIMEOUT_S)
        if not ready:
            raise TimeoutError("the other worker never handed over its turn")
        os.read(self.inbox, 1)

    def release(self) -> None:
        if self.outbox is not None:
            os.write(self.outbox, b".")


class _StepClock:
    """Wall and CPU time of each optimizer step, from its start (turn acquired) to the next step's
    start (turn released); the timed window is steps warmup .. warmup + timed - 1."""

    def __init__(self, turn: _Turn) -> None:
        self.turn = turn
        self.ready: float | None = None
        self.starts: list[tuple[float, float]] = []
        self.ends: list[tuple[float, float]] = []

    def tick(self) -> None:
        """At the start of each step: end the previous one, hand over, wait, start this one."""
        now = (time.perf_counter(), time.process_time())
        if self.starts:
            self.ends.append(now)
            self.turn.release()
        else:
            self.ready = now[0]
        self.turn.acquire()
        self.starts.append((time.perf_counter(), time.process_time()))

    def finish(self) -> None:
        """After training: the last step's turn goes back."""
        if self.starts:
            self.turn.release()

    def report(self, settings: Settings, setup_started: float) -> dict[str, Any]:
        window = range(settings.warmup_steps, settings.warmup_steps + settings.timed_steps)
        if len(self.ends) < window.stop:
            raise RuntimeError(f"expected {settings.total_steps} steps, saw {len(self.starts)}")
        return {
            "setup_s": (self.ready or setup_started) - setup_started,
            "step_s": [self.ends[k][0] - self.starts[k][0] for k in window],
            "step_cpu_s": [self.ends[k][1] - self.starts[k][1] for k in window],
        }


def _ours(
    settings: Settings, job: str, data: dict[str, Any], tokenizer: Any, turn: _Turn
) -> dict[str, Any]:
    from rlhf.data.tokenize import encode_completion
    from rlhf.ops import LossHyper
    from rlhf.progress import set_quiet
    from rlhf.train import fit
    from rlhf.train.collate import TokenBatch, pad_batch
    from rlhf.train.config import LoopConfig, OptimizerConfig
    from rlhf.train.dpo import (
        PairBatch,
        PairExample,
        PreferenceObjective,
        collate_pairs,
        pair_length,
        reference_logps,
    )
    from rlhf.train.sft import CompletionLikelihood, row_length

    set_quiet(True)
    model = tiny_gpt2(tokenizer, settings, max_length=settings.max_length)
    baseline = rss_mb()
    setup_started = time.perf_counter()
    pad_id = tokenizer.pad_token_id
    clock = _StepClock(turn)
    # per micro-batch: padded length, real row lengths, first column whose logits are computed
    shapes: list[tuple[int, list[int], int]] = []

    class Timed:
        """The real objective, noting when each optimizer step's first micro-batch starts."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.calls = inner, 0

        def units(self, batch: Any) -> int:
            return int(self.inner.units(batch))

        def loss(self, model: Any, batch: Any) -> Any:
            if self.calls % settings.accumulation == 0:
                clock.tick()
            self.calls += 1
            tokens: TokenBatch = batch.tokens if isinstance(batch, PairBatch) else batch
            lengths = (tokens.input_ids != pad_id).sum(-1).tolist()
            shapes.append((tokens.input_ids.shape[1], lengths, tokens.first_target - 1))
            return self.inner.loss(model, batch)

    examples: Sequence[Any]
    collate: Callable[[Sequence[Any]], Any]
    objective: Any
    if job == "ours-sft":
        examples = [
            encode_completion(
                tokenizer, e["prompt"], e["completion"], max_length=settings.max_length
            )
            for e in data["sft"]
        ]
        lengths = [len(e.input_ids) for e in examples]
        collate = lambda rows: pad_batch(rows, pad_id)  # noqa: E731 - as rlhf.train.sft does
        objective = CompletionLikelihood()
        size: Callable[[Any], int] = row_length
    else:
        examples = [
            PairExample(
                chosen=encode_completion(
                    tokenizer, p["prompt"], p["chosen"], max_length=settings.max_length
                ),
                rejected=encode_completion(
                    tokenizer, p["prompt"], p["rejected"], max_length=settings.max_length
                ),
            )
            for p in data["dpo"]
        ]
        lengths = [len(e.chosen.input_ids) for e in examples] + [
            len(e.rejected.input_ids) for e in examples
        ]
        collate = collate_pairs(pad_id, shared_prompt=job == "ours-dpo")
        examples = reference_logps(
            model, examples, collate, batch_size=settings.micro_batch_size, precision="fp32"
        )
        objective = PreferenceObjective("sigmoid", LossHyper(beta=settings.beta))
        size = pair_length
    loop = LoopConfig(
        seed=settings.seed,
        max_steps=settings.total_steps,
        batch_size=settings.batch_size,
        micro_batch_size=settings.micro_batch_size,
        eval_every=0,
        save_every=0,
        keep_best=False,
        precision="fp32",
        device="cpu",
        resume=False,
    )
    optim = OptimizerConfig(
        lr=settings.lr, schedule="linear", warmup_steps=0, max_grad_norm=1.0, weight_decay=0.0
    )
    with tempfile.TemporaryDirectory() as output:
        fit(
            model,
            Timed(objective),
            examples,
            collate,
            loop=loop,
            optim=optim,
            output=Path(output),
            export=lambda _model, _path: None,
            size=size,  # as train_sft and train_dpo pass it
        )
    clock.finish()
    first_timed = settings.warmup_steps * settings.accumulation
    timed_shapes = shapes[first_timed : first_timed + settings.timed_steps * settings.accumulation]
    return {
        "baseline_rss_mb": baseline,
        **clock.report(settings, setup_started),
        "tokenized_lengths": lengths,
        "timed_micro_batches": timed_shapes,
    }


def _trl_common(settings: Settings, output: str) -> dict[str, Any]:
    return {
        "output_dir": output,
        "max_steps": settings.total_steps,
        "per_device_train_batch_size": settings.micro_batch_size,
        "gradient_accumulation_steps": settings.accumulation,
        "learning_rate": settings.lr,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "max_length": settings.max_length,
        "seed": settings.seed,
        "gradient_checkpointing": False,  # TRL's default is True; ours does not checkpoint
        "bf16": False,
        "use_cpu": True,
        "report_to": [],
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_steps": settings.total_steps,  # one log row at the end: less work than ours
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def _trl(
    settings: Settings, job: str, data: dict[str, Any], tokenizer: Any, turn: _Turn
) -> dict[str, Any]:
    import copy

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    model = tiny_gpt2(tokenizer, settings, max_length=settings.max_length)
    baseline = rss_mb()
    setup_started = time.perf_counter()
    clock = _StepClock(turn)

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.tick()

    with tempfile.TemporaryDirectory() as output:
        trainer: Any
        if job == "trl-sft":
            config = SFTConfig(
                **_trl_common(settings, output),
                completion_only_loss=True,
                packing=False,
                dataset_num_proc=None,
            )
            trainer = SFTTrainer(
                model=model,
                args=config,
                train_dataset=Dataset.from_list(data["sft"]),
                processing_class=tokenizer,
                callbacks=[Clock()],
            )
            lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
        else:
            precompute = job == "trl-dpo-precomputed"
            config = DPOConfig(
                **_trl_common(settings, output),
                beta=settings.beta,
                loss_type=["sigmoid"],
                precompute_ref_log_probs=precompute,
                precompute_ref_batch_size=settings.micro_batch_size,
            )
            trainer = DPOTrainer(
                model=model,
                ref_model=None if precompute else copy.deepcopy(model),
                args=config,
                train_dataset=Dataset.from_list(data["dpo"]),
                processing_class=tokenizer,
                callbacks=[Clock()],
            )
            dataset = trainer.train_dataset
            lengths = [
                len(p) + len(c)
                for p, c in zip(dataset["prompt_ids"], dataset["chosen_ids"], strict=True)
            ] + [
                len(p) + len(r)
                for p, r in zip(dataset["prompt_ids"], dataset["rejected_ids"], strict=True)
            ]
        trainer.train()
    clock.finish()
    return {
        "baseline_rss_mb": baseline,
        **clock.report(settings, setup_started),
        "tokenized_lengths": lengths,
        "optimizer": type(
            trainer.optimizer.optimizer
            if hasattr(trainer.optimizer, "optimizer")
            else trainer.optimizer
        ).__name__,
        "optim": str(config.optim),
    }


def run_worker(
    settings: Settings, jobs: list[str], data_file: Path, tokenizer_dir: Path, turn: _Turn
) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(settings.threads)
    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    data = json.loads(data_file.read_text())
    results = {}
    for job in jobs:
        run = (
            _ours(settings, job, data, tokenizer, turn)
            if job.startswith("ours-")
            else _trl(settings, job, data, tokenizer, turn)
        )
        results[job] = {
            **run,
            "peak_rss_mb": peak_rss_mb(),
            "torch_threads": torch.get_num_threads(),
        }
    return results


# ---------------------------------------------------------------------------------------------
# Parent side: tokenizer, data, matmul peak, rounds of subprocesses, figures


def matmul_peak(threads: int, size: int = 2048, reps: int = 8) -> dict[str, Any]:
    """fp32 torch.mm FLOP/s: 2 n^3 per product; the best of `reps` after one warmup."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    flops = 2 * size**3
    return {
        "size": size,
        "reps": reps,
        "best_flops": flops / min(times),
        "median_flops": flops / statistics.median(times),
    }


def model_flops(settings: Settings, vocab: int, micro_batches: list[Any], *, real: bool) -> float:
    """Training FLOPs of the micro-batches of one step (nanoGPT / PaLM appendix B convention).

    Per sequence of T tokens: 6 * 12 L d^2 * T (the blocks' matmul weights: qkv 3 d^2, output
    projection d^2, MLP 8 d^2, per layer) + 6 * d V * T_head (the LM head, over the T_head columns
    whose logits the step computes: from `first_target - 1` on, see `completion_logprobs`)
    + 12 L d T^2 (attention scores and the weighted sum, 2 * 2 T^2 d per layer forward, x3 with
    backward, not halved for the causal mask). Embedding lookups, biases, norms and the softmax
    are not counted. `real`: each row's own (unpadded) length; else the padded micro-batch shape,
    which is what the step actually computes.
    """
    d, layers = settings.hidden_size, settings.num_layers
    total = 0.0
    for length, row_lengths, head_from in micro_batches:
        lengths = row_lengths if real else [length] * len(row_lengths)
        for t in lengths:
            head = max(t - head_from, 0)
            total += 6 * 12 * layers * d * d * t + 6 * d * vocab * head + 12 * layers * d * t**2
    return total


def _spawn(
    settings: Settings, groups: list[list[str]], data_file: Path, tokenizer_dir: Path, work: Path
) -> dict[str, Any]:
    """Run each group of jobs in its own worker process, the workers side by side, their
    optimizer steps in turns (`_Turn`), the first group's worker first."""
    env = worker_env(settings.threads, work)
    inboxes = [work / f"turn-{uuid.uuid4().hex}" for _ in groups]
    for inbox in inboxes:
        os.mkfifo(inbox)
    workers = []
    for index, jobs in enumerate(groups):
        result = work / f"result-{'+'.join(jobs)}.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            ",".join(jobs),
            "--settings",
            json.dumps(dataclasses.asdict(settings)),
            "--data",
            str(data_file),
            "--tokenizer",
            str(tokenizer_dir),
            "--result",
            str(result),
        ]
        if len(groups) == 2:
            command += ["--turn-in", str(inboxes[index]), "--turn-out", str(inboxes[1 - index])]
            command += ["--turn-first"] if index == 0 else []
        log = (work / f"log-{'+'.join(jobs)}.txt").open("w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append((jobs, process, result, log))
    results: dict[str, Any] = {}
    failed = []
    for jobs, process, result, log in workers:
        if process.wait() != 0:
            failed.append(jobs)
            for other in workers:  # its partner would wait for a turn that never comes
                if other[1].poll() is None:
                    other[1].kill()
        log.close()
        if not failed:
            results.update(json.loads(result.read_text()))
    if failed:
        logs = "\n".join((work / f"log-{'+'.join(j)}.txt").read_text()[-4000:] for j in failed)
        raise RuntimeError(f"worker(s) {failed} failed:\n{logs}")
    return results


def _summarize(settings: Settings, job: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    per_round = [statistics.median(r["step_s"]) for r in runs]
    step = statistics.median(per_round)
    cpu = statistics.median(statistics.median(r["step_cpu_s"]) for r in runs)
    peak = statistics.median(r["peak_rss_mb"] for r in runs)
    baseline = statistics.median(r["baseline_rss_mb"] for r in runs)
    lengths = runs[0]["tokenized_lengths"]
    return {
        "samples_per_s": settings.batch_size / step,
        "step_s_median": step,
        "step_s_per_round": per_round,
        "step_cpu_s_median": cpu,
        "samples_per_cpu_s": settings.batch_size / cpu,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        "training_rss_mb": statistics.median(r["peak_rss_mb"] - r["baseline_rss_mb"] for r in runs),
        "setup_s_median": statistics.median(r["setup_s"] for r in runs),
        "mean_tokenized_length": statistics.mean(lengths),
        "rounds": len(runs),
        **({k: runs[0][k] for k in ("optimizer", "optim") if k in runs[0]}),
    }


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    return {
        "throughput_ours_over_trl": ours["samples_per_s"] / theirs["samples_per_s"],
        "cpu_throughput_ours_over_trl": ours["samples_per_cpu_s"] / theirs["samples_per_cpu_s"],
        "peak_rss_ours_over_trl": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
        "training_rss_ours_over_trl": ours["training_rss_mb"]
        / max(theirs["training_rss_mb"], 1e-9),
    }


def run(settings: Settings, output: Path) -> dict[str, Any]:
    import torch
    import transformers

    from rlhf.models import train_bpe_tokenizer

    torch.set_num_threads(settings.threads)
    started = time.perf_counter()
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        work = Path(tmp)
        tokenizer = train_bpe_tokenizer(
            tokenizer_corpus(settings),
            vocab_size=settings.vocab_size,
            model_max_length=settings.max_length,
        )
        tokenizer_dir = work / "tokenizer"
        tokenizer.save_pretrained(tokenizer_dir)
        data_file = work / "data.json"
        data_file.write_text(json.dumps(generate_data(settings, tokenizer)))
        # pairs of worker processes that step in turns: ours against TRL
        pairs = [[[ours], [trl]] for ours, trl in zip(JOBS[0::2], JOBS[1::2], strict=True)]
        if settings.quick:  # one process per framework: only a smoke test of the whole path
            pairs = [[list(JOBS[0::2]), list(JOBS[1::2])]]
        runs: dict[str, list[dict[str, Any]]] = {}
        peaks = []
        for index in range(settings.rounds):
            todo = list(pairs)
            if index < settings.extra_rounds and not settings.quick:
                todo.append([[job] for job in EXTRA_JOBS])
            peaks.append(matmul_peak(settings.threads))
            for pair in todo:
                pair = pair if index % 2 == 0 else pair[::-1]  # alternate who steps first
                names = " vs ".join("+".join(jobs) for jobs in pair)
                print(f"round {index + 1}/{settings.rounds}: {names}", file=sys.stderr)
                for job, result in _spawn(settings, pair, data_file, tokenizer_dir, work).items():
                    runs.setdefault(job, []).append(result)
        peaks.append(matmul_peak(settings.threads))
    jobs = {job: _summarize(settings, job, results) for job, results in runs.items()}

    peak_flops = statistics.median(p["best_flops"] for p in peaks)
    sft_runs = runs["ours-sft"]
    step_shapes = [
        r["timed_micro_batches"][i : i + settings.accumulation]
        for r in sft_runs
        for i in range(0, len(r["timed_micro_batches"]), settings.accumulation)
    ]
    vocab = len(tokenizer)
    flops_real = statistics.mean(model_flops(settings, vocab, s, real=True) for s in step_shapes)
    flops_padded = statistics.mean(model_flops(settings, vocab, s, real=False) for s in step_shapes)
    step_s = jobs["ours-sft"]["step_s_median"]
    flops = {
        "matmul_peak_flops": peak_flops,
        "matmul_peak_per_round": [p["best_flops"] for p in peaks],
        "matmul": {
            "size": peaks[0]["size"],
            "reps": peaks[0]["reps"],
            "statistic": "best of reps, median over rounds",
        },
        "sft_step_model_flops_real_tokens": flops_real,
        "sft_step_model_flops_padded": flops_padded,
        "sft_step_s": step_s,
        "achieved_flops_real_tokens": flops_real / step_s,
        "achieved_flops_padded": flops_padded / step_s,
        "fraction_of_peak_real_tokens": flops_real / step_s / peak_flops,
        "fraction_of_peak_padded": flops_padded / step_s / peak_flops,
        "convention": (
            "per sequence: 6*(12*L*d^2)*T + 6*(d*V)*T_head + 12*L*d*T^2 (nanoGPT/PaLM appendix B); "
            "T_head = the columns whose logits are computed (from the one before the batch's first "
            "completion token); embeddings, biases, norms and softmax not counted; attention not "
            "halved for causality; 'real_tokens': each row's unpadded length (model FLOPs "
            "utilisation), 'padded': the padded micro-batch shape the step computes"
        ),
    }
    result = {
        "benchmark": "train_speed",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(settings),
        "model": {
            "arch": "gpt2",
            "vocab_size": vocab,
            "parameters": _parameter_count(settings, vocab),
        },
        "environment": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": importlib.metadata.version("trl"),
            "python": platform.python_version(),
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": settings.threads,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        },
        "memory_measure": (
            "peak_rss_mb: getrusage(RUSAGE_SELF).ru_maxrss of the worker subprocess (whole process: "
            "interpreter, imports, model, data, training); baseline_rss_mb: RSS (/proc/self/statm) after imports "
            "and the model are built, before trainer setup; training_rss_mb: peak - baseline"
        ),
        "timing": (
            f"{settings.warmup_steps} warmup steps, then {settings.timed_steps} steps timed start to "
            "start (the whole loop: data, forward, backward, clip, optimizer, logging); median per "
            f"round, median over {settings.rounds} rounds of alternating subprocesses"
        ),
        "jobs": jobs,
        "sft": _ratio(jobs["ours-sft"], jobs["trl-sft"]),
        "dpo": _ratio(jobs["ours-dpo"], jobs["trl-dpo-precomputed"]),
        **(
            {
                "dpo_vs_live_ref": _ratio(jobs["ours-dpo"], jobs["trl-dpo-live-ref"]),
                "dpo_separate_rows": _ratio(
                    jobs["ours-dpo-separate-rows"], jobs["trl-dpo-precomputed"]
                ),
            }
            if "trl-dpo-live-ref" in jobs
            else {}
        ),
        "flops": flops,
        "seconds": time.perf_counter() - started,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _parameter_count(settings: Settings, vocab: int) -> dict[str, int]:
    d, layers = settings.hidden_size, settings.num_layers
    return {
        "block_matmul": 12 * layers * d * d,
        "lm_head": d * vocab,
        "counted_n": 12 * layers * d * d + d * vocab,
    }


def print_table(result: dict[str, Any]) -> None:
    jobs = result["jobs"]
    print(
        f"{'run':24} {'samples/s':>10} {'step s':>8} {'CPU s':>7} {'rounds':>6} "
        f"{'peak RSS MB':>12} {'train RSS MB':>13}"
    )
    for name, job in jobs.items():
        print(
            f"{name:24} {job['samples_per_s']:10.2f} {job['step_s_median']:8.3f} "
            f"{job['step_cpu_s_median']:7.3f} {job['rounds']:6d} "
            f"{job['peak_rss_mb']:12.0f} {job['training_rss_mb']:13.0f}"
        )
    for key in ("sft", "dpo", "dpo_vs_live_ref", "dpo_separate_rows"):
        if key in result:
            r = result[key]
            print(
                f"{key}: throughput ours/TRL {r['throughput_ours_over_trl']:.2f}x "
                f"(per CPU second {r['cpu_throughput_ours_over_trl']:.2f}x), "
                f"peak RSS ours/TRL {r['peak_rss_ours_over_trl']:.2f}, "
                f"training RSS ours/TRL {r['training_rss_ours_over_trl']:.2f}"
            )
    f = result["flops"]
    print(
        f"SFT step: {f['achieved_flops_real_tokens'] / 1e9:.1f} GFLOP/s on real tokens "
        f"({f['fraction_of_peak_real_tokens']:.0%} of the {f['matmul_peak_flops'] / 1e9:.1f} GFLOP/s "
        f"matmul peak), {f['fraction_of_peak_padded']:.0%} counting padding"
    )
    env = result["environment"]
    print(
        f"{env['cpu_model']}, {env['torch_threads']} threads, load {env['loadavg_before']} -> "
        f"{env['loadavg_after']}; torch {env['torch']}, trl {env['trl']}; {result['seconds']:.0f} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a reduced run for a smoke test (< 60 s)"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON"
    )
    parser.add_argument("--rounds", type=int, help="rounds of alternating runs (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default 1; see Settings)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--turn-in", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--turn-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--turn-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("trl") is None:
        parser.error(
            "TRL is not installed: pip install 'rlhf[bench]' (or .venv/bin/pip install trl)"
        )
    if args.worker:
        settings = Settings(**json.loads(args.settings))
        turn = _Turn(args.turn_in, args.turn_out, first=args.turn_first)
        results = run_worker(settings, args.worker.split(","), args.data, args.tokenizer, turn)
        args.result.write_text(json.dumps(results))
        return
    overrides: dict[str, Any] = dict(QUICK) if args.quick else {}
    overrides["quick"] = args.quick
    if args.threads:
        overrides["threads"] = args.threads
    if args.rounds:
        overrides["rounds"] = args.rounds
    settings = Settings(**overrides)
    result = run(settings, args.output)
    print_table(result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
