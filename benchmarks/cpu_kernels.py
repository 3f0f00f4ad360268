"""CPU kernel choices, each against the alternative it replaced, in one process.

Two choices of this project's CPU paths are measured here, so that the figures their docstrings
quote can be re-measured:

1. log-prob chunks (`rlhf.ops.logprobs.CPU_CHUNK_ELEMENTS`): `token_logprobs` forward and backward,
   and `entropy_from_logits`, over 512 positions of float32 logits, with the CPU's chunks of 2^18
   logits against the accelerators' 2^24 (`CHUNK_ELEMENTS`), at a 4,096-token vocabulary (the
   benchmarks' tiny GPT-2) and GPT-2's 50,257;
2. prepacked generation (`rlhf.models.prepacked`): `rlhf.rollout.generate` as it runs, against the
   same call with its prepacked block replaced by a no-op (torch's own products), on
   `generate_speed.py`'s fixed-length scenario (the tiny GPT-2, 16 prompts of 16-48 tokens, 128
   new tokens, temperature 1, EOS off).

Each pair runs in alternating order over rounds (who goes first alternates), one torch thread; the
figure is the median over rounds, and the ratio is the replaced alternative's time over ours.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu_kernels.py            # about 2 minutes
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu_kernels.py --quick    # smoke test

Writes benchmarks/results/cpu_kernels.json (or --output).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from measure import ModelShape, cpu_model, loadavg

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "cpu_kernels.json"


@dataclass(frozen=True)
class Settings(ModelShape):
    """The policy is the benchmarks' tiny GPT-2 (`ModelShape`); the rest as `generate_speed.py`."""

    positions: int = 512
    vocabularies: tuple[int, ...] = (4096, 50257)
    prompts: int = 16
    min_prompt: int = 16
    max_prompt: int = 48
    max_new_tokens: int = 128
    rounds: int = 7
    quick: bool = False


QUICK = {
    "positions": 64,
    "vocabularies": (512,),
    "hidden_size": 64,
    "num_layers": 2,
    "vocab_size": 512,
    "prompts": 4,
    "max_new_tokens": 8,
    "rounds": 2,
}


def _seconds(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _pair(ours: Callable[[], Any], replaced: Callable[[], Any], rounds: int) -> dict[str, Any]:
    """Median seconds of each over `rounds` (one untimed call each first), alternating order."""
    ours(), replaced()
    times: dict[str, list[float]] = {"ours": [], "replaced": []}
    for round_ in range(rounds):
        order = [("ours", ours), ("replaced", replaced)]
        for name, run in order if round_ % 2 == 0 else order[::-1]:
            times[name].append(_seconds(run))
    ours_s, replaced_s = statistics.median(times["ours"]), statistics.median(times["replaced"])
    return {
        "ours_s": ours_s,
        "replaced_s": replaced_s,
        "speedup": replaced_s / ours_s,
        "per_round_speedup": [
            round(r / o, 3) for o, r in zip(times["ours"], times["replaced"], strict=True)
        ],
    }


def logprob_chunks(settings: Settings) -> dict[str, Any]:
    """`token_logprobs` forward+backward and `entropy_from_logits`: CPU chunks against 2^24."""
    from rlhf.ops.logprobs import CHUNK_ELEMENTS, default_chunk_rows, token_logprobs
    from rlhf.ops.policy_losses import entropy_from_logits

    results: dict[str, Any] = {}
    generator = torch.Generator().manual_seed(settings.seed)
    for vocab in settings.vocabularies:
        logits = torch.randn(1, settings.positions, vocab, generator=generator) * 3
        labels = torch.randint(0, vocab, (1, settings.positions), generator=generator)
        trained = logits.clone().requires_grad_(True)
        ours_rows, replaced_rows = default_chunk_rows(logits), max(1, CHUNK_ELEMENTS // vocab)

        def logprobs_step(rows: int) -> Callable[[], Any]:
            def run() -> Any:
                picked = token_logprobs(trained, labels, chunk_rows=rows)  # noqa: B023
                return torch.autograd.grad(picked.sum(), trained)  # noqa: B023

            return run

        def entropy(rows: int) -> Callable[[], Any]:
            return lambda: entropy_from_logits(logits, chunk_rows=rows)  # noqa: B023

        results[f"vocab_{vocab}"] = {
            "chunk_rows": {"ours": ours_rows, "replaced": replaced_rows},
            "token_logprobs_forward_backward": _pair(
                logprobs_step(ours_rows), logprobs_step(replaced_rows), settings.rounds
            ),
            "entropy": _pair(entropy(ours_rows), entropy(replaced_rows), settings.rounds),
        }
    return results


@contextlib.contextmanager
def _unpacked(model: Any, *, rows: int) -> Iterator[Any]:
    yield model


def prepacked_generation(settings: Settings) -> dict[str, Any]:
    """`generate` as it runs against the same call with its prepacked block a no-op."""
    from rlhf.models import TinyModelConfig, tiny_causal_lm
    from rlhf.rollout import SamplingConfig, generate

    config = TinyModelConfig(arch="gpt2", vocab_size=settings.vocab_size,
                             hidden_size=settings.hidden_size, num_layers=settings.num_layers,
                             num_heads=settings.num_heads,
                             max_positions=settings.max_prompt + settings.max_new_tokens,
                             seed=settings.seed)  # fmt: skip
    model = tiny_causal_lm(config)
    generator = torch.Generator().manual_seed(settings.seed)
    lengths = torch.randint(settings.min_prompt, settings.max_prompt + 1, (settings.prompts,),
                            generator=generator)  # fmt: skip
    prompts = [torch.randint(0, settings.vocab_size, (int(n),), generator=generator).tolist()
               for n in lengths]  # fmt: skip
    sampling = SamplingConfig(max_new_tokens=settings.max_new_tokens)
    module = sys.modules["rlhf.rollout.generate"]  # the package exports the function by that name
    packed = module.prepacked_linears

    def run(block: Callable[..., Any]) -> Callable[[], Any]:
        def call() -> Any:
            setattr(module, "prepacked_linears", block)  # noqa: B010
            try:
                return generate(model, prompts, sampling, pad_token_id=0, eos_token_id=None,
                                generator=torch.Generator().manual_seed(1))  # fmt: skip
            finally:
                setattr(module, "prepacked_linears", packed)  # noqa: B010

        return call

    return {
        "tokens_per_call": settings.prompts * settings.max_new_tokens,
        **_pair(run(packed), run(_unpacked), settings.rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run for a smoke test")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    settings = Settings(**QUICK, quick=True) if args.quick else Settings()  # type: ignore[arg-type]
    torch.set_num_threads(settings.threads)
    before = loadavg()
    started = time.perf_counter()
    logprobs = logprob_chunks(settings)
    generation = prepacked_generation(settings)
    figures = {
        "benchmark": "cpu_kernels",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": asdict(settings),
        "environment": {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "cpu_model": cpu_model(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_before": before,
            "loadavg_after": loadavg(),
        },
        "timing": "median seconds over rounds of one call each, the order alternating; "
        "speedup = the replaced alternative's median over ours",
        "logprob_chunks": logprobs,
        "prepacked_generation": generation,
        "wall_s": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    for vocab, result in logprobs.items():
        print(
            f"{vocab}: token_logprobs forward+backward "
            f"{result['token_logprobs_forward_backward']['speedup']:.2f}x, "
            f"entropy {result['entropy']['speedup']:.2f}x (chunks of {result['chunk_rows']})"
        )
    print(
        f"prepacked generation: {generation['speedup']:.2f}x "
        f"({generation['replaced_s']:.3f} s -> {generation['ours_s']:.3f} s per call)"
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
