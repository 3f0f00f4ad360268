"""Reward-model training speed: this project's training step against TRL's `RewardTrainer`.

One run: the same tiny GPT-2-shaped backbone (built by `rlhf.models.tiny_causal_lm`, seeded), the
same byte-level BPE tokenizer (trained here on the data), the same pairs as the same token ids
(real HH-RLHF dialogues from ../shared/data, so prompts are long and shared by each pair's two
responses, as in practice), the same batch settings, AdamW, clipping, linear schedule, fp32 on the
CPU with the same torch thread count:

- `ours`: `rlhf.train.fit` with `RewardObjective` and the batches `rlhf train reward` builds for a
  decoder: each pair one row, the prompt once and both responses after it, each response
  attending to the prompt and to itself only (`collate_shared_prefix`), rows sorted by length and
  run in chunks of at most `chunk_tokens` (the command's default) padded tokens; `fit` runs
  GPT-2's `gelu_new` as one kernel (`rlhf.models.fused`), TRL the same function as five ops;
- `ours-padded`: the same loop with TRL's layout (one padded row per response, the micro-batch in
  one forward pass): what the loop alone costs or saves;
- `trl`: TRL's `RewardTrainer` on a `GPT2ForSequenceClassification` holding the same backbone
  weights, given the same token ids as `chosen_ids`/`rejected_ids` (`gradient_checkpointing` off,
  as ours; no evaluation, no saving, one log row).

Every job runs in its own subprocess, so its peak memory is its own; jobs alternate over rounds and
the figures are medians. A step is timed from the start of one optimizer step to the start of the
next (collate, forward, backward, clipping, optimizer, logging), after warmup steps. The headline
is process CPU time with one torch thread: on a machine shared with other work, wall time
measures the neighbours as much as the code (both are reported). Memory is the peak resident set
(`ru_maxrss`), and that minus the resident set once the model and data are built (what training
itself adds).

    .venv/bin/python benchmarks/reward_trl.py            # ~10 minutes on 2 busy cores
    .venv/bin/python benchmarks/reward_trl.py --quick    # smoke test

Needs TRL (`pip install 'rlhf[bench]'`) and the HH-RLHF files. Writes
benchmarks/results/reward_trl.json (or --output).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import StepTiming, cpu_model, loadavg, peak_rss_mb, rss_mb, tiny_gpt2

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUTPUT = HERE / "results" / "reward_trl.json"
JOBS = ("ours", "ours-padded", "trl")
HH_FILE = Path("hh-rlhf") / "helpful-online" / "test.jsonl.gz"


@dataclass(frozen=True)
class Settings(StepTiming):
    """What both frameworks share. Batch sizes count pairs."""

    max_length: int = 256
    pairs: int = 256
    batch_size: int = 16
    micro_batch_size: int = 8
    lr: float = 1e-4
    timed_steps: int = 8

    @property
    def accumulation(self) -> int:
        return self.batch_size // self.micro_batch_size


QUICK = {
    "hidden_size": 64,
    "num_layers": 2,
    "vocab_size": 512,
    "max_length": 128,
    "pairs": 32,
    "batch_size": 4,
    "micro_batch_size": 2,
    "warmup_steps": 1,
    "timed_steps": 2,
    "rounds": 1,
}


def shared_data() -> Path:
    return Path(os.environ.get("RLHF_SHARED_DATA", REPO.parent / "shared" / "data"))


# ---------------------------------------------------------------------------------------------
# Parent side: data and tokenizer, then rounds of worker subprocesses


def prepare(settings: Settings, workdir: Path) -> tuple[Path, Path]:
    """Tokenizer (trained on the pairs) and the pairs as token ids: prompt, chosen, rejected."""
    from rlhf.data import PreferencePair, read_file
    from rlhf.data.records import render_plain
    from rlhf.data.tokenize import encode_completion
    from rlhf.models import train_bpe_tokenizer

    pairs = read_file(shared_data() / HH_FILE).valid_records
    pairs = [p for p in pairs if isinstance(p, PreferencePair)][: settings.pairs]
    texts = [render_plain(t) for p in pairs for t in (p.prompt, p.chosen, p.rejected)]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=settings.vocab_size, model_max_length=10**6)
    tokenizer_dir = workdir / "tokenizer"
    tokenizer.save_pretrained(tokenizer_dir)
    rows = []
    for pair in pairs:
        prompt = render_plain(pair.prompt) + "\n\n"
        responses = [render_plain(pair.chosen), render_plain(pair.rejected)]
        # the prompt is cut to leave room for the longer response, so both share it exactly
        ids = [encode_completion(tokenizer, prompt, r, max_length=10**6) for r in responses]
        longest = max(len(e.input_ids) - e.prompt_length for e in ids)
        longest = min(longest, settings.max_length // 2)
        head = list(ids[0].input_ids[: ids[0].prompt_length])
        head = head[max(0, len(head) - (settings.max_length - longest)) :]
        tails = [list(e.input_ids[e.prompt_length :])[:longest] for e in ids]
        rows.append({"prompt": head, "chosen": tails[0], "rejected": tails[1]})
    data_file = workdir / "pairs.json"
    data_file.write_text(json.dumps(rows))
    return tokenizer_dir, data_file


def run_round(
    settings: Settings, jobs: list[str], tokenizer_dir: Path, data_file: Path
) -> dict[str, Any]:
    results = {}
    for job in jobs:
        command = [
            sys.executable,
            __file__,
            "--worker",
            job,
            "--tokenizer",
            str(tokenizer_dir),
            "--data",
            str(data_file),
            "--settings",
            json.dumps(dataclasses.asdict(settings)),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{job} failed:\n{done.stdout}\n{done.stderr}")
        results[job] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


# ---------------------------------------------------------------------------------------------
# Worker side: one framework, in this process


class StepClock:
    """Wall and process CPU times at the start of each optimizer step."""

    def __init__(self) -> None:
        self.starts: list[tuple[float, float]] = []

    def tick(self) -> None:
        self.starts.append((time.perf_counter(), time.process_time()))

    def per_step(self, settings: Settings) -> dict[str, list[float]]:
        """Wall (`step_s`) and CPU (`cpu_step_s`) seconds of each timed step."""
        window = self.starts[
            settings.warmup_steps : settings.warmup_steps + settings.timed_steps + 1
        ]
        if len(window) != settings.timed_steps + 1:
            raise RuntimeError(f"expected {settings.total_steps} steps, saw {len(self.starts)}")
        pairs = list(itertools.pairwise(window))
        return {
            "step_s": [b[0] - a[0] for a, b in pairs],
            "cpu_step_s": [b[1] - a[1] for a, b in pairs],
        }


def _ours(
    settings: Settings, job: str, rows: list[dict[str, list[int]]], tokenizer: Any
) -> dict[str, Any]:
    from functools import partial

    from rlhf.data.comparisons import ComparedPair, Comparison
    from rlhf.models.reward import RewardModel
    from rlhf.progress import set_quiet
    from rlhf.train import LoopConfig, OptimizerConfig, fit
    from rlhf.train.reward import RewardTrainConfig
    from rlhf.train.reward_collate import (
        TokenizedComparison,
        collate_shared_prefix,
        collate_tokens,
    )
    from rlhf.train.reward_objective import RewardLossConfig, RewardObjective

    set_quiet(True)
    model = RewardModel(
        tiny_gpt2(tokenizer, settings, max_length=settings.max_length).base_model,
        tokenizer,
        max_length=settings.max_length,
    )
    pair = Comparison("", ("", ""), (ComparedPair(0, 1),), order=(0, 1))
    examples = [
        TokenizedComparison(
            (tuple(r["prompt"] + r["chosen"]), tuple(r["prompt"] + r["rejected"])),
            pair,
            prompt_length=len(r["prompt"]),
        )
        for r in rows
    ]
    loss = RewardLossConfig()
    if job == "ours":  # what `rlhf train reward` runs for a decoder, with its default chunking
        chunk_tokens = RewardTrainConfig.__dataclass_fields__["chunk_tokens"].default
        collate = partial(
            collate_shared_prefix, pad_id=model.pad_id, loss=loss, max_tokens=chunk_tokens
        )
    else:  # TRL's layout: a padded row per response, the micro-batch in one forward pass
        collate = partial(collate_tokens, pad_id=model.pad_id, loss=loss, max_tokens=10**9)
    clock = StepClock()
    objective = RewardObjective(loss, use_ties=False)

    class Timed:
        def __init__(self) -> None:
            self.calls = 0

        def units(self, batch: Any) -> int:
            return objective.units(batch)

        def loss(self, model: Any, batch: Any) -> Any:
            if self.calls % settings.accumulation == 0:
                clock.tick()
            self.calls += 1
            return objective.loss(model, batch)

    baseline = rss_mb()
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
    optim = OptimizerConfig(lr=settings.lr, schedule="linear", max_grad_norm=1.0)
    with tempfile.TemporaryDirectory() as output:
        fit(
            model,
            Timed(),
            examples,
            collate,
            loop=loop,
            optim=optim,
            output=Path(output),
            export=lambda _model, _path: None,
        )
    return {"baseline_rss_mb": baseline, **clock.per_step(settings)}


def _trl(settings: Settings, rows: list[dict[str, list[int]]], tokenizer: Any) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import GPT2ForSequenceClassification, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    backbone = tiny_gpt2(tokenizer, settings, max_length=settings.max_length).base_model
    config = backbone.config
    config.num_labels = 1
    model = GPT2ForSequenceClassification(config)
    model.transformer.load_state_dict(backbone.state_dict())
    clock = StepClock()

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.tick()

    dataset = Dataset.from_list(
        [
            {"chosen_ids": r["prompt"] + r["chosen"], "rejected_ids": r["prompt"] + r["rejected"]}
            for r in rows
        ]
    )
    baseline = rss_mb()
    with tempfile.TemporaryDirectory() as output:
        args = RewardConfig(
            output_dir=output,
            max_steps=settings.total_steps,
            per_device_train_batch_size=settings.micro_batch_size,
            gradient_accumulation_steps=settings.accumulation,
            learning_rate=settings.lr,
            lr_scheduler_type="linear",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=1.0,
            max_length=settings.max_length,
            seed=settings.seed,
            gradient_checkpointing=False,
            bf16=False,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            eval_strategy="no",
            logging_steps=settings.total_steps,
            disable_tqdm=True,
            dataloader_num_workers=0,
            center_rewards_coefficient=None,
        )
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Clock()],
        )
        trainer.train()
    return {"baseline_rss_mb": baseline, **clock.per_step(settings)}


def worker(job: str, settings: Settings, tokenizer_dir: Path, data_file: Path) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(settings.threads)
    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = json.loads(data_file.read_text())
    result = (
        _trl(settings, rows, tokenizer) if job == "trl" else _ours(settings, job, rows, tokenizer)
    )
    result["peak_rss_mb"] = peak_rss_mb()
    result["torch_threads"] = torch.get_num_threads()
    return result


# ---------------------------------------------------------------------------------------------
# Figures


def summarize(settings: Settings, rounds: list[dict[str, Any]], rows: list[Any]) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    for job in rounds[0]:
        figure: dict[str, Any] = {}
        for clock, key in (("cpu", "cpu_step_s"), ("wall", "step_s")):
            per_round = [statistics.median(r[job][key]) for r in rounds]
            step = statistics.median(per_round)
            figure[f"{clock}_seconds_per_step"] = step
            figure[f"{clock}_pairs_per_s"] = settings.batch_size / step
            figure[f"{clock}_round_medians_s"] = per_round
        figure["peak_rss_mb"] = statistics.median(r[job]["peak_rss_mb"] for r in rounds)
        figure["training_rss_mb"] = statistics.median(
            r[job]["peak_rss_mb"] - r[job]["baseline_rss_mb"] for r in rounds
        )
        jobs[job] = figure
    ours, padded, trl = jobs["ours"], jobs["ours-padded"], jobs["trl"]
    tokens = [2 * len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]) for r in rows]
    return {
        "jobs": jobs,
        "throughput_ratio_ours_over_trl": ours["cpu_pairs_per_s"] / trl["cpu_pairs_per_s"],
        "wall_throughput_ratio_ours_over_trl": ours["wall_pairs_per_s"] / trl["wall_pairs_per_s"],
        "padded_ratio_ours_over_trl": padded["cpu_pairs_per_s"] / trl["cpu_pairs_per_s"],
        "peak_rss_ratio_ours_over_trl": ours["peak_rss_mb"] / trl["peak_rss_mb"],
        "training_rss_ratio_ours_over_trl": ours["training_rss_mb"] / trl["training_rss_mb"],
        "mean_tokens_per_pair": statistics.mean(tokens),
        "mean_prompt_share": statistics.mean(
            2 * len(r["prompt"]) / t for r, t in zip(rows, tokens, strict=True)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=JOBS)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--settings", type=str)
    args = parser.parse_args()
    if args.worker:
        settings = Settings(**json.loads(args.settings))
        print(json.dumps(worker(args.worker, settings, args.tokenizer, args.data)))
        return
    settings = Settings(**QUICK) if args.quick else Settings()
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as work:
        tokenizer_dir, data_file = prepare(settings, Path(work))
        rows = json.loads(data_file.read_text())
        rounds = []
        for number in range(settings.rounds):
            order = list(JOBS) if number % 2 == 0 else list(reversed(JOBS))
            rounds.append(run_round(settings, order, tokenizer_dir, data_file))
            shown = [f"{j} {statistics.median(r['cpu_step_s']):.3f}" for j, r in rounds[-1].items()]
            print(f"round {number + 1} (CPU s/step): " + ", ".join(shown), flush=True)
        figures = summarize(settings, rounds, rows)
    import torch
    import trl

    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        },
        "versions": {"torch": torch.__version__, "trl": trl.__version__},
        "settings": dataclasses.asdict(settings),
        **figures,
        "rounds": rounds,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "jobs"}, indent=2))
    print(
        f"load average {report['machine']['loadavg_before']} -> {report['machine']['loadavg_after']}"
    )
    for job, figure in figures["jobs"].items():
        print(
            f"{job}: {figure['cpu_pairs_per_s']:.1f} pairs per CPU second "
            f"({figure['wall_pairs_per_s']:.1f} per wall second), peak "
            f"{figure['peak_rss_mb']:.0f} MB, training +{figure['training_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
