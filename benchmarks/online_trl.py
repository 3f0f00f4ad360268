"""Online RLHF step speed: this project's GRPO, RLOO and PPO steps against TRL's online trainers.

One run, one tiny GPT-2-shaped policy (`rlhf.models.tiny_causal_lm`, weights seeded, saved to a
temporary directory with a byte-level BPE tokenizer trained here on the prompt texts), the same
prompts, the same reward function, the same shape of step for both frameworks, fp32 on the CPU with
one torch thread:

- a step is generation + scoring + reference log-probs + one update pass (one optimizer step over
  all of the step's responses, in micro-batches): `prompts_per_step` prompts, each sampled
  `group_size` times (temperature 1, no top-k/top-p), `max_new_tokens` tokens per response;
- every response is exactly `max_new_tokens` long on both sides: the tokenizer's EOS token is a
  token added after the policy was built, with an id outside the policy's vocabulary, so no sampler
  can ever draw it (the sampling distribution itself is untouched: nothing is masked or
  suppressed); the model's config and generation config name that id as EOS too;
- the reward is a plain Python function of the response text (share of vowels), written once and
  loaded by both sides (`rlhf.rewards.sources.load_function`);
- same learning rate (constant), AdamW, weight decay 0, gradient clipping 1.0.

Jobs:

1. GRPO: `rlhf.train.grpo.train_grpo` with the KL in the loss (k3, beta 0.04) against TRL's
   `GRPOTrainer` (beta 0.04, which keeps a reference model and puts the k3 KL in the loss;
   `loss_type="dapo"`, i.e. the token mean over the step, as ours; rewards scaled by the group's
   std, as ours);
2. RLOO: `rlhf.train.grpo.train_rloo` (beta 0.05, KL k1 in the reward) against TRL's `RLOOTrainer`
   (beta 0.05, KL k1 in the reward);
3. PPO: `rlhf.train.ppo.train_ppo` (a separate critic, GAE, one pass) alone: TRL 1.16 has no PPO
   trainer any more (`PPOTrainer` was removed), so it is reported without a peer.

TRL generates with `transformers`' `generate` (no vLLM), `gradient_checkpointing` off (its
default is on), no logging besides one row at the end, no saving, no evaluation.

How it measures (as `train_speed.py`): every job runs in its own worker process, so its peak
resident set (`getrusage(RUSAGE_SELF).ru_maxrss`) is its own; ours and TRL's worker run side by
side and take their steps in turns (one steps while the other waits), so a change in the machine's
load falls on both; who goes first alternates over rounds. A step is timed from its start to the
next step's start (the whole loop: generation, scoring, reference, advantages, update, logging),
after warmup steps; the figure is the median over rounds of each round's median. Episodes/s is
responses per step over that time, generated tokens/s the response tokens per step over it (each
step's token count is read back from the framework's own metrics).

    .venv/bin/python benchmarks/online_trl.py            # about 10 minutes on 2 shared cores
    .venv/bin/python benchmarks/online_trl.py --quick    # smoke test

Needs TRL: `pip install 'rlhf[bench]'`. Writes benchmarks/results/online_trl.json (or --output).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import StepTiming, cpu_model, loadavg, peak_rss_mb, rss_mb, tiny_gpt2, worker_env
from train_speed import _Turn as Turn

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "online_trl.json"

PAIRS = (("ours-grpo", "trl-grpo"), ("ours-rloo", "trl-rloo"))
"""(ours, TRL): each job in its own worker process, the two of a pair stepping in turns."""
ALONE = ("ours-ppo",)
"""Jobs without a TRL peer, run alone."""
NEVER_EOS = "<|never-sampled-eos|>"

REWARD_SOURCE = '''
VOWELS = frozenset("aeiouAEIOU")


def reward(prompts, completions, **kwargs):
    """Share of vowels in each response: cheap, and different for every sample."""
    return [sum(ch in VOWELS for ch in text) / max(len(text), 1) for text in completions]
'''


@dataclass(frozen=True)
class Settings(StepTiming):
    """What both frameworks share."""

    prompts: int = 64
    prompt_tokens: int = 32
    """Every prompt is exactly this many tokens (no padding differences between batches)."""
    prompts_per_step: int = 8
    group_size: int = 4
    """Responses sampled per prompt; episodes per step = prompts_per_step * group_size."""
    max_new_tokens: int = 64
    micro_batch_size: int = 16
    """Responses per forward/backward in the update (TRL's per_device_train_batch_size)."""
    lr: float = 1e-5
    grpo_beta: float = 0.04
    rloo_beta: float = 0.05
    quick: bool = False

    @property
    def episodes_per_step(self) -> int:
        return self.prompts_per_step * self.group_size

    @property
    def max_length(self) -> int:
        return self.prompt_tokens + self.max_new_tokens


QUICK = {
    "hidden_size": 64,
    "num_layers": 2,
    "vocab_size": 512,
    "prompts": 16,
    "prompt_tokens": 12,
    "prompts_per_step": 2,
    "group_size": 2,
    "max_new_tokens": 8,
    "micro_batch_size": 2,
    "warmup_steps": 1,
    "timed_steps": 2,
    "rounds": 1,
}


# ---------------------------------------------------------------------------------------------
# Parent side: prompts, tokenizer, the saved policy, rounds of worker processes


def _words(rng: random.Random, count: int) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "sh", "qu"]
    lexicon = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(3000)
    ]
    weights = [1 / rank for rank in range(1, len(lexicon) + 1)]  # Zipf, as natural text
    return rng.choices(lexicon, weights=weights, k=count)


def prepare(settings: Settings, work: Path) -> dict[str, Any]:
    """Tokenizer, policy, prompts and reward function, written under `work`."""
    from rlhf.models import train_bpe_tokenizer

    rng = random.Random(settings.seed)
    corpus = [" ".join(_words(rng, 40)) for _ in range(200 if settings.quick else 1500)]
    tokenizer = train_bpe_tokenizer(
        corpus, vocab_size=settings.vocab_size, model_max_length=settings.max_length
    )
    prompts: list[str] = []
    while len(prompts) < settings.prompts:  # texts of exactly `prompt_tokens` tokens
        text = ""
        for word in _words(rng, 4 * settings.prompt_tokens):
            candidate = f"{text} {word}"
            length = len(tokenizer(candidate)["input_ids"])
            if length <= settings.prompt_tokens:
                text = candidate
            if length >= settings.prompt_tokens:
                break
        if len(tokenizer(text)["input_ids"]) == settings.prompt_tokens and text not in prompts:
            prompts.append(text)
    policy = tiny_gpt2(tokenizer, settings, max_length=settings.max_length)
    vocab = policy.config.vocab_size
    # EOS off on both sides: an EOS id the policy cannot output (its logits stop at vocab - 1)
    tokenizer.add_special_tokens({"eos_token": NEVER_EOS})
    never = tokenizer.convert_tokens_to_ids(NEVER_EOS)
    assert never >= vocab, (never, vocab)
    policy.config.eos_token_id = never
    policy.generation_config.eos_token_id = never
    policy.generation_config.bos_token_id = tokenizer.bos_token_id
    policy.generation_config.pad_token_id = tokenizer.pad_token_id
    model_dir = work / "policy"
    policy.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    prompts_file = work / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    reward_file = work / "reward.py"
    reward_file.write_text(REWARD_SOURCE)
    return {
        "model": str(model_dir),
        "prompts": str(prompts_file),
        "reward": f"{reward_file}:reward",
        "vocab": vocab,
        "never_eos_id": never,
    }


def _uptime() -> str:
    try:
        done = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
        return done.stdout.strip()
    except OSError:
        return ""


def _spawn(
    settings: Settings, jobs: list[str], files: dict[str, Any], work: Path
) -> dict[str, Any]:
    """Run each job in its own worker process, side by side, stepping in turns (`Turn`) when
    there are two; the first job's worker steps first."""
    env = worker_env(settings.threads, work)
    inboxes = [work / f"turn-{uuid.uuid4().hex}" for _ in jobs]
    for inbox in inboxes:
        os.mkfifo(inbox)
    workers = []
    for index, job in enumerate(jobs):
        result = work / f"result-{job}.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            job,
            "--settings",
            json.dumps(dataclasses.asdict(settings)),
            "--files",
            json.dumps(files),
            "--result",
            str(result),
        ]
        if len(jobs) == 2:
            command += ["--turn-in", str(inboxes[index]), "--turn-out", str(inboxes[1 - index])]
            command += ["--turn-first"] if index == 0 else []
        log = (work / f"log-{job}.txt").open("w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append((job, process, result, log))
    results: dict[str, Any] = {}
    failed = []
    for job, process, result, log in workers:
        if process.wait() != 0:
            failed.append(job)
            for other in workers:  # its partner would wait for a turn that never comes
                if other[1].poll() is None:
                    other[1].kill()
        log.close()
        if not failed:
            results[job] = json.loads(result.read_text())
    if failed:
        logs = "\n".join((work / f"log-{j}.txt").read_text()[-4000:] for j in failed)
        raise RuntimeError(f"worker(s) {failed} failed:\n{logs}")
    return results


# ---------------------------------------------------------------------------------------------
# Worker side: one framework, one algorithm, in this process


class StepClock:
    """Wall and CPU time of each step, from its start (turn acquired) to the next step's start
    (turn released)."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.starts: list[tuple[float, float]] = []
        self.ends: list[tuple[float, float]] = []

    def tick(self) -> None:
        """At the start of each step: end the previous one, hand over, wait, start this one."""
        if self.starts:
            self.ends.append((time.perf_counter(), time.process_time()))
            self.turn.release()
        self.turn.acquire()
        self.starts.append((time.perf_counter(), time.process_time()))

    def finish(self) -> None:
        """After training: the last step's turn goes back."""
        if self.starts:
            self.turn.release()

    def report(self, settings: Settings) -> dict[str, list[float]]:
        window = range(settings.warmup_steps, settings.warmup_steps + settings.timed_steps)
        if len(self.ends) < window.stop:
            raise RuntimeError(f"expected {settings.total_steps} steps, saw {len(self.starts)}")
        return {
            "step_s": [self.ends[k][0] - self.starts[k][0] for k in window],
            "step_cpu_s": [self.ends[k][1] - self.starts[k][1] for k in window],
        }


def _ours(settings: Settings, job: str, files: dict[str, Any], clock: StepClock) -> dict[str, Any]:
    import rlhf.train.online as online
    from rlhf.progress import set_quiet
    from rlhf.rewards.sources import RewardConfig
    from rlhf.rollout.sampling import SamplingConfig
    from rlhf.train.config import LoopConfig, OptimizerConfig
    from rlhf.train.grpo import GRPOConfig, RLOOConfig, train_grpo, train_rloo
    from rlhf.train.metrics import read_metrics
    from rlhf.train.online_config import KLConfig
    from rlhf.train.ppo import PPOConfig, train_ppo

    set_quiet(True)
    step = online._step

    def timed_step(run: Any, index: int) -> dict[str, float]:
        clock.tick()
        return step(run, index)

    online._step = timed_step  # type: ignore[assignment]  # the loop's step, clocked at its start
    baseline = rss_mb()
    with tempfile.TemporaryDirectory() as output:
        common: dict[str, Any] = {
            "data": files["prompts"],
            "output": Path(output),
            "model": files["model"],
            "reward": RewardConfig(function=files["reward"]),
            "sampling": SamplingConfig(max_new_tokens=settings.max_new_tokens),
            "max_prompt_length": settings.prompt_tokens,
            "generation_batch_size": settings.episodes_per_step,
            "eval_fraction": 0.0,
            "ppo_epochs": 1,
            "mini_batches": 1,
            "optim": OptimizerConfig(
                lr=settings.lr, schedule="constant", weight_decay=0.0, max_grad_norm=1.0
            ),
            "loop": LoopConfig(
                seed=settings.seed,
                max_steps=settings.total_steps,
                batch_size=settings.prompts_per_step,
                micro_batch_size=settings.micro_batch_size,
                eval_every=0,
                save_every=0,
                keep_best=False,
                precision="fp32",
                device="cpu",
                resume=False,
            ),
        }
        if job == "ours-grpo":
            train_grpo(
                GRPOConfig(
                    **common,
                    group_size=settings.group_size,
                    kl=KLConfig(coef=settings.grpo_beta, placement="loss", estimator="k3"),
                ),
                {},
            )
        elif job == "ours-rloo":
            train_rloo(
                RLOOConfig(
                    **common,
                    group_size=settings.group_size,
                    kl=KLConfig(coef=settings.rloo_beta, placement="reward", estimator="k1"),
                ),
                {},
            )
        else:  # one response per prompt: as many prompts as the others have episodes
            loop = dataclasses.replace(common["loop"], batch_size=settings.episodes_per_step)
            common = {**common, "loop": loop, "kl": KLConfig(coef=settings.rloo_beta)}
            train_ppo(PPOConfig(**common), {})
        clock.finish()
        rows = read_metrics(Path(output))
    lengths = [row["response/length"] for row in rows]
    return {
        "baseline_rss_mb": baseline,
        "episodes_per_step": settings.episodes_per_step,
        "response_tokens_per_step": [
            length * settings.episodes_per_step for length in _window(settings, lengths)
        ],
        "phases_s": {
            name: statistics.median(_window(settings, [row[name] for row in rows]))
            for name in rows[0]
            if name.startswith("timing/")
        },
    }


def _window(settings: Settings, values: list[Any]) -> list[Any]:
    return values[settings.warmup_steps : settings.warmup_steps + settings.timed_steps]


def _trl(settings: Settings, job: str, files: dict[str, Any], clock: StepClock) -> dict[str, Any]:
    from datasets import Dataset  # type: ignore[import-untyped]
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer  # type: ignore[attr-defined]

    from rlhf.rewards.sources import load_function

    reward = load_function(files["reward"])
    tokenizer = AutoTokenizer.from_pretrained(files["model"])
    model = AutoModelForCausalLM.from_pretrained(files["model"], dtype="float32")
    prompts = [json.loads(line) for line in Path(files["prompts"]).read_text().splitlines()]
    lengths: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.tick()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            lengths.append(trainer._metrics["train"]["completions/mean_length"][-1])

    baseline = rss_mb()
    with tempfile.TemporaryDirectory() as output:
        common: dict[str, Any] = {
            "output_dir": output,
            "max_steps": settings.total_steps,
            "per_device_train_batch_size": settings.micro_batch_size,
            "gradient_accumulation_steps": settings.episodes_per_step // settings.micro_batch_size,
            "num_generations": settings.group_size,
            "max_completion_length": settings.max_new_tokens,
            "temperature": 1.0,
            "top_p": 1.0,
            "top_k": 0,
            "num_iterations": 1,
            "learning_rate": settings.lr,
            "lr_scheduler_type": "constant",
            "warmup_steps": 0,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "seed": settings.seed,
            "gradient_checkpointing": False,  # TRL's default is True; ours does not checkpoint
            "bf16": False,
            "use_cpu": True,
            "use_vllm": False,
            "report_to": [],
            "save_strategy": "no",
            "eval_strategy": "no",
            "logging_steps": settings.total_steps,  # one log row at the end: less work than ours
            "disable_tqdm": True,
            "dataloader_num_workers": 0,
        }
        trainer: Any
        if job == "trl-grpo":
            trainer = GRPOTrainer(
                model=model,
                reward_funcs=reward,
                args=GRPOConfig(
                    **common, beta=settings.grpo_beta, loss_type="dapo", scale_rewards="group"
                ),
                train_dataset=Dataset.from_list(prompts),
                processing_class=tokenizer,
                callbacks=[Clock()],
            )
        else:
            trainer = RLOOTrainer(
                model=model,
                reward_funcs=reward,
                args=RLOOConfig(**common, beta=settings.rloo_beta),
                train_dataset=Dataset.from_list(prompts),
                processing_class=tokenizer,
                callbacks=[Clock()],
            )
        trainer.train()
        clock.finish()
    return {
        "baseline_rss_mb": baseline,
        "episodes_per_step": settings.episodes_per_step,
        "response_tokens_per_step": [
            length * settings.episodes_per_step for length in _window(settings, lengths)
        ],
        "generation_batch_size": trainer.args.generation_batch_size,
        "optim": str(trainer.args.optim),
    }


def run_worker(settings: Settings, job: str, files: dict[str, Any], turn: Turn) -> dict[str, Any]:
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(settings.threads)
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    clock = StepClock(turn)
    result = (
        _ours(settings, job, files, clock)
        if job.startswith("ours-")
        else _trl(settings, job, files, clock)
    )
    return {
        **result,
        **clock.report(settings),
        "peak_rss_mb": peak_rss_mb(),
        "torch_threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------
# Figures


def _summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    per_round = [statistics.median(r["step_s"]) for r in runs]
    step = statistics.median(per_round)
    cpu = statistics.median(statistics.median(r["step_cpu_s"]) for r in runs)
    episodes = runs[0]["episodes_per_step"]
    tokens = statistics.median(t for r in runs for t in r["response_tokens_per_step"])
    summary = {
        "episodes_per_s": episodes / step,
        "generated_tokens_per_s": tokens / step,
        "step_s_median": step,
        "step_s_per_round": per_round,
        "step_cpu_s_median": cpu,
        "episodes_per_cpu_s": episodes / cpu,
        "episodes_per_step": episodes,
        "response_tokens_per_step": tokens,
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "baseline_rss_mb": statistics.median(r["baseline_rss_mb"] for r in runs),
        "training_rss_mb": statistics.median(r["peak_rss_mb"] - r["baseline_rss_mb"] for r in runs),
        "rounds": len(runs),
    }
    if "phases_s" in runs[0]:
        summary["phases_s_median"] = {
            name: statistics.median(r["phases_s"][name] for r in runs)
            for name in runs[0]["phases_s"]
        }
    return summary


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    return {
        "episodes_per_s_ours_over_trl": ours["episodes_per_s"] / theirs["episodes_per_s"],
        "episodes_per_cpu_s_ours_over_trl": ours["episodes_per_cpu_s"]
        / theirs["episodes_per_cpu_s"],
        "peak_rss_ours_over_trl": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
    }


def run(settings: Settings, output: Path) -> dict[str, Any]:
    import torch
    import transformers

    started = time.perf_counter()
    load_before, uptime_before = loadavg(), _uptime()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="online-trl-") as tmp:
        work = Path(tmp)
        files = prepare(settings, work)
        for index in range(settings.rounds):
            groups = [list(pair) if index % 2 == 0 else list(pair[::-1]) for pair in PAIRS]
            groups += [[job] for job in ALONE]
            for jobs in groups:
                print(f"round {index + 1}/{settings.rounds}: {' vs '.join(jobs)}", file=sys.stderr)
                for job, figures in _spawn(settings, jobs, files, work).items():
                    runs.setdefault(job, []).append(figures)
    summaries = {job: _summarize(results) for job, results in runs.items()}
    result = {
        "benchmark": "online_trl",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": {
            **dataclasses.asdict(settings),
            "episodes_per_step": settings.episodes_per_step,
        },
        "model": {
            "arch": "gpt2",
            "vocab_size": files["vocab"],
            "never_eos_id": files["never_eos_id"],
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
            "uptime_before": uptime_before,
            "uptime_after": _uptime(),
        },
        "what_runs": {
            "ours-grpo": "rlhf.train.grpo.train_grpo, KL k3 in the loss (beta grpo_beta), one pass",
            "trl-grpo": "trl.GRPOTrainer, beta grpo_beta (reference model, k3 KL in the loss), "
            "loss_type dapo, scale_rewards group, transformers generate",
            "ours-rloo": "rlhf.train.grpo.train_rloo, KL k1 in the reward (beta rloo_beta), one pass",
            "trl-rloo": "trl.RLOOTrainer, beta rloo_beta (k1 KL in the reward), transformers "
            "generate",
            "ours-ppo": "rlhf.train.ppo.train_ppo, separate critic, GAE, KL k1 in the reward "
            "(beta rloo_beta), ppo_epochs 1, mini_batches 1",
            "trl-ppo": f"none: TRL {importlib.metadata.version('trl')} has no PPO trainer "
            "(PPOTrainer was removed), so our PPO has no peer here",
            "eos": "the tokenizer's EOS id lies outside the policy's vocabulary (a token added "
            "after the model was built), so it is never sampled: every response is max_new_tokens "
            "long on both sides, with the sampling distribution untouched",
        },
        "memory_measure": (
            "peak_rss_mb: getrusage(RUSAGE_SELF).ru_maxrss of the worker process (interpreter, "
            "imports, models, training); baseline_rss_mb: RSS after imports, before the trainer "
            "is built; training_rss_mb: peak - baseline"
        ),
        "timing": (
            f"{settings.warmup_steps} warmup steps, then {settings.timed_steps} steps timed start "
            "to start (generation, scoring, reference, advantages, update, logging); ours and "
            "TRL's worker step in turns; median per round, median over "
            f"{settings.rounds} rounds alternating who steps first"
        ),
        "jobs": summaries,
        "grpo": _ratio(summaries["ours-grpo"], summaries["trl-grpo"]),
        "rloo": _ratio(summaries["ours-rloo"], summaries["trl-rloo"]),
        "target": "ours >= 2x TRL's episodes/s",
        "seconds": time.perf_counter() - started,
        "rounds": runs,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{'run':12} {'episodes/s':>11} {'tokens/s':>9} {'step s':>7} {'CPU s':>6} "
        f"{'peak RSS MB':>12} {'train RSS MB':>13}"
    )
    for name, job in result["jobs"].items():
        print(
            f"{name:12} {job['episodes_per_s']:11.2f} {job['generated_tokens_per_s']:9.1f} "
            f"{job['step_s_median']:7.3f} {job['step_cpu_s_median']:6.3f} "
            f"{job['peak_rss_mb']:12.0f} {job['training_rss_mb']:13.0f}"
        )
    for key in ("grpo", "rloo"):
        r = result[key]
        print(
            f"{key}: episodes/s ours/TRL {r['episodes_per_s_ours_over_trl']:.2f}x "
            f"(per CPU second {r['episodes_per_cpu_s_ours_over_trl']:.2f}x), "
            f"peak RSS ours/TRL {r['peak_rss_ours_over_trl']:.2f}"
        )
    env = result["environment"]
    print(
        f"{env['cpu_model']}, {env['torch_threads']} threads, load {env['loadavg_before']} -> "
        f"{env['loadavg_after']}; torch {env['torch']}, trl {env['trl']}; {result['seconds']:.0f} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run for a smoke test")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON"
    )
    parser.add_argument("--rounds", type=int, help="rounds of alternating runs (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default 1; see Settings)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
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
        turn = Turn(args.turn_in, args.turn_out, first=args.turn_first)
        result = run_worker(settings, args.worker, json.loads(args.files), turn)
        args.result.write_text(json.dumps(result))
        return
    overrides: dict[str, Any] = dict(QUICK) if args.quick else {}
    overrides["quick"] = args.quick
    if args.threads:
        overrides["threads"] = args.threads
    if args.rounds:
        overrides["rounds"] = args.rounds
    result = run(Settings(**overrides), args.output)
    print_table(result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
