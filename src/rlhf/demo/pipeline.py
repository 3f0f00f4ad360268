"""`rlhf demo`: the whole RLHF loop on the built-in task, each phase timed, each figure sourced.

1. data: training prompts with one demonstration each, and held-out prompts (`rlhf.demo.task`);
2. sft: a BPE tokenizer and a tiny GPT-2 trained from scratch on the demonstrations;
3. rounds (iterated RLHF), each:
   collect   pairs of responses (round 1: two SFT samples; later: the current policy against SFT)
             judged by six simulated annotators through the web app's service and store;
   check     agreement, per-annotator diagnostics (the spammer is found), consensus by Dawid-Skene;
   learn     a reward-model ensemble on every round's consensus labels so far;
   optimize  PPO from the current policy against the ensemble (KL-leashed to SFT), and DPO from
             SFT on the same labels;
   evaluate  both against SFT on held-out prompts, judged by the hidden gold preference;
4. best-of-n: the SFT policy's best of n by the final ensemble, the baseline RL is compared with;
5. report: `summary.json` (every figure with where it came from) and `report.html`.

The demo's store keeps every run's campaigns (a rerun adds `run-2/...` campaigns and loses
nothing); models and evaluations are retrained and rewritten, from the same seeds.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rlhf.data import write_records
from rlhf.data.files import atomic_write_text
from rlhf.data.records import Demonstration
from rlhf.demo import recipes
from rlhf.demo.config import DemoConfig
from rlhf.demo.rounds import History, Round, RoundResult, run_round
from rlhf.demo.summary import summarize_demo
from rlhf.demo.task import UNSAFE_REQUESTS, make_prompts, sample_response
from rlhf.errors import UserError
from rlhf.eval.compare import evaluate, summarize
from rlhf.eval.report import write_report
from rlhf.ops.best_of_n import best_of_n_kl
from rlhf.store import Store
from rlhf.train.config import config_to_json
from rlhf.train.sft import train_sft

__all__ = ["DemoCheckFailed", "run_demo"]

Say = Callable[[str], None]


class DemoCheckFailed(UserError):
    """The demo ran but a result it must show did not hold (see the report)."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


@contextmanager
def _phase(name: str, timings: dict[str, float], say: Say) -> Iterator[None]:
    say(f"[{name}]")
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)


@dataclass(frozen=True)
class Layout:
    """Where the demo writes what, under its output directory."""

    root: Path

    @property
    def demonstrations(self) -> Path:
        return self.root / "data" / "demonstrations.jsonl"

    @property
    def prompts(self) -> Path:
        return self.root / "data" / "prompts.jsonl"

    @property
    def heldout(self) -> Path:
        return self.root / "data" / "heldout.jsonl"

    @property
    def sft(self) -> Path:
        return self.root / "sft"

    @property
    def best_of_n(self) -> Path:
        return self.root / "best-of-n.eval.json"

    def round(self, number: int) -> Path:
        return self.root / f"round-{number}"


def run_demo(config: DemoConfig, say: Say) -> dict[str, Any]:
    """Run the whole loop; returns the summary (the `--json` line). Raises `DemoCheckFailed`
    after writing the report when a result the demo must show does not hold."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    torch.set_num_threads(config.threads)

    def phase(name: str) -> AbstractContextManager[None]:
        return _phase(name, timings, say)

    files = Layout(config.output)
    with phase("data"):
        prompts = _write_data(config, files, say)
    with phase("sft"):
        _train_sft(config, files, say)
    history, results = History(), list[RoundResult]()
    with Store.open(str(config.output / "feedback.db")) as store:
        run = _run_number(store)
        policy = files.sft
        for number in range(1, config.rounds + 1):
            rnd = Round(number=number, campaign=f"run-{run}/round-{number}",
                        directory=files.round(number), policy=policy, sft=files.sft,
                        prompts=prompts, prompts_file=files.prompts,
                        heldout_file=files.heldout)  # fmt: skip
            results.append(run_round(config, store, rnd, history, phase, say))
            policy = results[-1].ppo
    with phase("best-of-n"):
        best_of_n = _best_of_n(config, files, results[-1].reward_model, say)
    summary = summarize_demo(config, files.root, results, best_of_n, run=run, timings=timings,
                             started=started)  # fmt: skip
    with phase("report"):
        atomic_write_text(files.root / "summary.json", json.dumps(summary, indent=2) + "\n")
        write_report(files.root)
    summary["timings"] = timings
    summary["seconds"] = round(time.perf_counter() - started, 1)
    failed = [name for name, held in summary["checks"].items() if not held]
    if failed:
        raise DemoCheckFailed(f"the demo's results do not show {', '.join(failed)}; see "
                              f"{summary['report']}", summary)  # fmt: skip
    return summary


def _write_data(config: DemoConfig, files: Layout, say: Say) -> list[str]:
    """Prompts, demonstrations (responses of mixed quality) and held-out prompts, as rlhf JSONL."""
    train = make_prompts(config.prompts, seed=config.seed)
    seen = {p.text for p in train if p.answer is not None}
    fresh = {p.text: p for p in make_prompts(5 * config.eval_prompts, seed=config.seed + 1)}
    heldout = [p for p in fresh.values() if p.text not in seen][: config.eval_prompts]
    rng = random.Random(config.seed)
    demos = [Demonstration(prompt=p.text, completion=sample_response(p, rng)) for p in train]
    write_records(demos, files.demonstrations)
    write_records([p.to_record(i) for i, p in enumerate(train)], files.prompts)
    write_records([p.to_record(i) for i, p in enumerate(heldout)], files.heldout)
    say(
        f"  {len(train)} prompts with a demonstration each, {len(heldout)} held-out prompts "
        f"(distinct; arithmetic never seen in training, and the task's {len(UNSAFE_REQUESTS)} "
        "unsafe requests, which training has too: the task has no others)"
    )
    return [p.text for p in train]


def _train_sft(config: DemoConfig, files: Layout, say: Say) -> None:
    settings = recipes.sft(config, files.demonstrations, files.sft)
    result = train_sft(settings, config_to_json(settings))
    say(
        f"  tiny GPT-2 trained from scratch: {result.steps} steps, held-out loss "
        f"{result.final_eval.get('loss', float('nan')):.3f}"
    )


def _run_number(store: Store) -> int:
    """1 + the demo runs this store has seen: each run's campaigns are `run-N/round-R`."""
    runs = {c.name.split("/")[0] for c in store.campaigns.all() if c.name.startswith("run-")}
    return len(runs) + 1


def _best_of_n(config: DemoConfig, files: Layout, reward_model: Path, say: Say) -> dict[str, Any]:
    settings = recipes.evaluation(config, files.heldout, files.sft, files.sft, reward_model,
                                  files.best_of_n, best_of=config.best_of)  # fmt: skip
    summary = summarize(evaluate(settings), settings)
    say(f"  best-of-{config.best_of} of SFT by the final reward model vs SFT: gold win rate "
        f"{summary['win_rate']:.3f} [{summary['win_rate_ci_low']:.3f}, "
        f"{summary['win_rate_ci_high']:.3f}]; its KL from SFT is at most "
        f"{best_of_n_kl(config.best_of):.3f} nats")  # fmt: skip
    return summary
