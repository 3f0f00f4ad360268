"""Generation speed: this project's `rlhf.rollout.generate` against `transformers`' `model.generate`.

One run, one tiny GPT-2-shaped policy (`rlhf.models.tiny_causal_lm`, hidden 256, 4 layers, a
4096-token vocabulary, weights seeded, built the same way in both workers), the same prompts
(random token ids, 16-48 tokens, left-padded), the same batch (16) and `max_new_tokens` (128), the
same sampling (temperature 1, no top-k, no top-p: both draw from the model's own softmax); fp32 on
the CPU with the same torch thread count. Two scenarios:

- "fixed-length": EOS disabled on both sides, so every row generates exactly `max_new_tokens`
  tokens: the cost of a decoding step.
- "eos": the policy's EOS logit is raised so that each step ends a response with probability
  `eos_probability` (1/48; see `_end_responses`), and both sides stop rows at that EOS: responses
  of varied lengths, as in RLHF sampling. A call lasts until its longest response ends on both
  sides, so responses/s (whole batches) is the comparable figure; tokens/s counts each side's own
  sampled tokens.

Each framework runs in its own worker process (so peak memory is its own), and the two take turns:
the parent asks one worker for one timed `generate` call, then the other, and alternates who goes
first between rounds, so a change in the machine's load falls on both alike. Figures are medians
over rounds, per wall-clock second and per second of process CPU time. `transformers` is not asked
for scores, so it does less work than ours, which also records each token's log-prob.

Once per scenario, outside the timed rounds, each worker profiles one call with `torch.profiler`
and reports its most expensive operators: where the time goes.

    .venv/bin/python benchmarks/generate_speed.py            # about 4 minutes on 2 shared cores
    .venv/bin/python benchmarks/generate_speed.py --quick    # smoke test, under 30 seconds

Writes benchmarks/results/generate_speed.json (or --output).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import ModelShape, cpu_model, loadavg, peak_rss_mb, rss_mb

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "generate_speed.json"
FRAMEWORKS = ("ours", "transformers", "transformers+our-cache")
"""The third is `transformers`' generate given this project's preallocated KV cache
(`past_key_values=generation_cache(...)`): what its `torch.cat` per step costs, measured directly
rather than read off the profiler."""
PAD = 0


@dataclass(frozen=True)
class Settings(ModelShape):
    """What both frameworks share."""

    batch_size: int = 16
    min_prompt: int = 16
    max_prompt: int = 48
    max_new_tokens: int = 128
    temperature: float = 1.0
    eos_probability: float = 1 / 48
    """Chance that the policy ends a response at each step in the "eos" scenario (its EOS logit is
    raised to give it; see `_end_responses`); the "fixed-length" scenario disables EOS."""
    warmup: int = 1
    """Untimed calls per worker before the rounds."""
    rounds: int = 7
    profile_ops: int = 8
    """Operators listed per framework in the profile."""
    quick: bool = False

    @property
    def eos_token_id(self) -> int:
        return self.vocab_size - 1


QUICK = {
    "hidden_size": 64,
    "num_layers": 2,
    "vocab_size": 512,
    "batch_size": 4,
    "max_new_tokens": 16,
    "rounds": 2,
    "profile_ops": 4,
}


# ---------------------------------------------------------------------------------------------
# Worker side: one framework, driven by the parent one call at a time over stdin/stdout


def _model_and_prompts(settings: Settings, *, eos: bool) -> tuple[Any, list[list[int]]]:
    import torch

    from rlhf.models import TinyModelConfig, tiny_causal_lm

    shape = TinyModelConfig(
        arch="gpt2",
        vocab_size=settings.vocab_size,
        hidden_size=settings.hidden_size,
        num_layers=settings.num_layers,
        num_heads=settings.num_heads,
        max_positions=settings.max_prompt + settings.max_new_tokens,
        seed=settings.seed,
    )
    model = tiny_causal_lm(shape)
    if eos:
        _end_responses(model, settings)
    rng = torch.Generator().manual_seed(settings.seed)
    lengths = torch.randint(settings.min_prompt, settings.max_prompt + 1, (settings.batch_size,),
                            generator=rng).tolist()  # fmt: skip
    prompts = [
        torch.randint(1, settings.eos_token_id, (n,), generator=rng).tolist() for n in lengths
    ]
    return model, prompts


def _end_responses(model: Any, settings: Settings) -> None:
    """Make the random policy end responses: raise the EOS logit by log((V - 1) p / (1 - p)).

    The logits are ln_f(h) @ wte^T (tied embeddings), so a final layer-norm bias of
    c * wte[eos] / |wte[eos]|^2 adds c to the EOS logit (and noise of about c / sqrt(d) to the
    others, as random embeddings are nearly orthogonal): each step then ends a response with
    probability about p, and responses have the varied lengths of real sampling.
    """
    import math

    import torch

    p = settings.eos_probability
    boost = math.log((settings.vocab_size - 1) * p / (1 - p))
    with torch.no_grad():
        row = model.transformer.wte.weight[settings.eos_token_id]
        model.transformer.ln_f.bias.copy_(boost * row / row.dot(row))


def _generator(settings: Settings, framework: str, *, eos: bool) -> Any:
    """One call of `framework`'s generation, returning each response's length (B,)."""
    import torch

    from rlhf.rollout import SamplingConfig, generate, left_pad
    from rlhf.rollout.cache import generation_cache

    model, prompts = _model_and_prompts(settings, eos=eos)
    eos_token_id = settings.eos_token_id if eos else None
    sampling = SamplingConfig(max_new_tokens=settings.max_new_tokens,
                              temperature=settings.temperature)  # fmt: skip
    seed = iter(range(settings.seed, settings.seed + 10_000))

    def ours() -> list[int]:
        generator = torch.Generator().manual_seed(next(seed))
        rollout = generate(model, prompts, sampling, pad_token_id=PAD, eos_token_id=eos_token_id,
                           generator=generator)  # fmt: skip
        return [int(n) for n in rollout.response_lengths]

    ids, mask = left_pad(prompts, pad_token_id=PAD, device="cpu")

    def theirs() -> list[int]:
        torch.manual_seed(next(seed))
        capacity = ids.shape[1] + settings.max_new_tokens
        cache = {"past_key_values": generation_cache(model.config, capacity=capacity)}
        with torch.inference_mode():
            output = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=settings.temperature,
                top_k=0,  # off, as ours (the generation config's default is 50)
                top_p=1.0,
                max_new_tokens=settings.max_new_tokens,
                min_new_tokens=None if eos else settings.max_new_tokens,
                pad_token_id=PAD,
                eos_token_id=eos_token_id,
                **(cache if framework == "transformers+our-cache" else {}),
            )
        return [_length(row.tolist(), eos_token_id) for row in output[:, ids.shape[1] :]]

    return ours if framework == "ours" else theirs


def _length(tokens: list[int], eos_token_id: int | None) -> int:
    """Tokens up to and including the first EOS (transformers pads after it)."""
    if eos_token_id is not None and eos_token_id in tokens:
        return tokens.index(eos_token_id) + 1
    return len(tokens)


def _top_ops(call: Any, count: int) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        call()
    events = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [
        {
            "op": e.key,
            "self_cpu_share": round(e.self_cpu_time_total / total, 3),
            "calls": e.count,
        }
        for e in events[:count]
    ]


def run_worker(settings: Settings, framework: str, *, eos: bool) -> None:
    """Answer the parent's commands on stdin, one JSON line each on stdout."""
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(settings.threads)
    hf_logging.set_verbosity_error()
    call = _generator(settings, framework, eos=eos)
    baseline = rss_mb()
    for _ in range(settings.warmup):
        call()
    for command in sys.stdin:
        reply: dict[str, Any]
        if command.strip() == "call":
            wall, cpu = time.perf_counter(), time.process_time()
            lengths = call()
            reply = {
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
                "tokens": sum(lengths),
                "responses": len(lengths),
            }
        elif command.strip() == "profile":
            reply = {"top_ops": _top_ops(call, settings.profile_ops)}
        else:  # "finish"
            reply = {
                "peak_rss_mb": peak_rss_mb(),
                "baseline_rss_mb": baseline,
                "torch_threads": torch.get_num_threads(),
            }
        print(json.dumps(reply), flush=True)
        if command.strip() == "finish":
            return


# ---------------------------------------------------------------------------------------------
# Parent side


SCENARIOS = {"fixed-length": False, "eos": True}
"""Scenario name -> whether EOS ends responses. "fixed-length": every row generates
max_new_tokens tokens (the cost of a decoding step); "eos": responses of varied lengths, as in
RLHF sampling (what finishing rows cost)."""


class _Worker:
    def __init__(self, settings: Settings, framework: str, *, eos: bool) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(settings.threads), "PYTHONWARNINGS": "ignore",
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework,
                   "--settings", json.dumps(dataclasses.asdict(settings))]  # fmt: skip
        command += ["--eos"] if eos else []
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)  # fmt: skip

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.process.args} ended (exit {self.process.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply


def _summarize(calls: list[dict[str, Any]], end: dict[str, Any]) -> dict[str, Any]:
    """Throughput as medians over rounds of each call's own rate."""
    return {
        "tokens_per_s": statistics.median(c["tokens"] / c["wall_s"] for c in calls),
        "tokens_per_cpu_s": statistics.median(c["tokens"] / c["cpu_s"] for c in calls),
        "responses_per_s": statistics.median(c["responses"] / c["wall_s"] for c in calls),
        "call_s_median": statistics.median(c["wall_s"] for c in calls),
        "call_s_per_round": [round(c["wall_s"], 4) for c in calls],
        "call_cpu_s_median": statistics.median(c["cpu_s"] for c in calls),
        "mean_response_tokens": statistics.mean(c["tokens"] / c["responses"] for c in calls),
        "peak_rss_mb": end["peak_rss_mb"],
        "baseline_rss_mb": end["baseline_rss_mb"],
        "generation_rss_mb": end["peak_rss_mb"] - end["baseline_rss_mb"],
        "torch_threads": end["torch_threads"],
    }


def run_scenario(settings: Settings, name: str, eos: bool) -> dict[str, Any]:
    """Both workers, `settings.rounds` rounds of one call each, in alternating order."""
    workers = {framework: _Worker(settings, framework, eos=eos) for framework in FRAMEWORKS}
    calls: dict[str, list[dict[str, Any]]] = {framework: [] for framework in FRAMEWORKS}
    load_before = loadavg()
    try:
        for index in range(settings.rounds):
            order = FRAMEWORKS[index % 3 :] + FRAMEWORKS[: index % 3]  # each goes first in turn
            for framework in order:
                calls[framework].append(workers[framework].ask("call"))
            line = "  ".join(f"{f} {calls[f][-1]['wall_s']:.3f}s" for f in FRAMEWORKS)
            print(f"{name} round {index + 1}/{settings.rounds}: {line}", file=sys.stderr)
        profiles = {f: workers[f].ask("profile")["top_ops"] for f in FRAMEWORKS}
        ends = {f: workers[f].ask("finish") for f in FRAMEWORKS}
    finally:
        for worker in workers.values():
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
    jobs = {f: _summarize(calls[f], ends[f]) for f in FRAMEWORKS}
    ours, theirs = jobs["ours"], jobs["transformers"]
    return {
        "eos": eos,
        "jobs": jobs,
        "comparison": {
            "throughput_ours_over_transformers": ours["tokens_per_s"] / theirs["tokens_per_s"],
            "cpu_throughput_ours_over_transformers": ours["tokens_per_cpu_s"]
            / theirs["tokens_per_cpu_s"],
            "responses_per_s_ours_over_transformers": ours["responses_per_s"]
            / theirs["responses_per_s"],
            "per_round_ours_over_transformers": [
                round((a["tokens"] / a["wall_s"]) / (b["tokens"] / b["wall_s"]), 3)
                for a, b in zip(calls["ours"], calls["transformers"], strict=True)
            ],
            "transformers_with_our_cache_over_transformers": jobs["transformers+our-cache"][
                "tokens_per_cpu_s"
            ]
            / theirs["tokens_per_cpu_s"],
            "peak_rss_ours_over_transformers": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            "generation_rss_ours_over_transformers": ours["generation_rss_mb"]
            / max(theirs["generation_rss_mb"], 1e-9),
        },
        "profile_top_ops": profiles,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def run(settings: Settings, output: Path) -> dict[str, Any]:
    import torch
    import transformers

    started = time.perf_counter()
    load_before = loadavg()
    scenarios = {name: run_scenario(settings, name, eos) for name, eos in SCENARIOS.items()}
    result = {
        "benchmark": "generate_speed",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(settings),
        "environment": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": settings.threads,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        },
        "timing": (
            f"per scenario: {settings.warmup} untimed call(s) per worker, then {settings.rounds} "
            "rounds of one timed generate call per framework, alternating who goes first; "
            "tokens/s = generated tokens (EOS included, padding not) / wall time of the call, "
            "median over rounds"
        ),
        "memory_measure": (
            "peak_rss_mb: getrusage(RUSAGE_SELF).ru_maxrss of the worker process; "
            "baseline_rss_mb: resident set after imports, model and prompts; "
            "generation_rss_mb: peak - baseline"
        ),
        "scenarios": scenarios,
        "wall_s": time.perf_counter() - started,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result: dict[str, Any]) -> None:
    for name, scenario in result["scenarios"].items():
        print(f"{name:27} {'tokens/s':>9} {'tokens/CPU s':>13} {'call (s)':>9} "
              f"{'tokens/response':>16} {'peak RSS (MB)':>14}")  # fmt: skip
        for framework, job in scenario["jobs"].items():
            print(f"  {framework:25} {job['tokens_per_s']:9.0f} {job['tokens_per_cpu_s']:13.0f} "
                  f"{job['call_s_median']:9.3f} {job['mean_response_tokens']:16.1f} "
                  f"{job['peak_rss_mb']:14.0f}")  # fmt: skip
        comparison = scenario["comparison"]
        print(f"  ours/transformers: {comparison['throughput_ours_over_transformers']:.2f}x "
              f"tokens/s, {comparison['cpu_throughput_ours_over_transformers']:.2f}x tokens/CPU s, "
              f"{comparison['responses_per_s_ours_over_transformers']:.2f}x responses/s, "
              f"{comparison['peak_rss_ours_over_transformers']:.2f}x peak memory; load average "
              f"{scenario['loadavg_before']}; transformers with our cache: "
              f"{comparison['transformers_with_our_cache_over_transformers']:.2f}x tokens/CPU s")  # fmt: skip
        for framework, ops in scenario["profile_top_ops"].items():
            listed = ", ".join(f"{op['op']} {op['self_cpu_share']:.0%}" for op in ops)
            print(f"  where {framework} spends its time: {listed}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run for a smoke test")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON to write")
    parser.add_argument("--rounds", type=int, help="rounds of alternating calls (default 7)")
    parser.add_argument("--threads", type=int, help="torch threads (default 1)")
    parser.add_argument("--batch-size", type=int, help="prompts per call (default 16)")
    parser.add_argument("--max-new-tokens", type=int, help="tokens per response (default 128)")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--eos", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(Settings(**json.loads(args.settings)), args.worker, eos=args.eos)
        return
    overrides: dict[str, Any] = dict(QUICK) if args.quick else {}
    overrides["quick"] = args.quick
    for name in ("rounds", "threads", "batch_size", "max_new_tokens"):
        if getattr(args, name):
            overrides[name] = getattr(args, name)
    result = run(Settings(**overrides), args.output)
    print_table(result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
