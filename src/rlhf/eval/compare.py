"""`rlhf eval`: a policy against a baseline on held-out prompts, judged by a gold scorer or a model.

Both policies answer every prompt k times (`samples_per_prompt`) with the same sampling seed; the
judge scores every response, and pair j of prompt i compares the policy's j-th response with the
baseline's (`rlhf.eval.winrate`). Alongside the win rate: each side's mean judge score, mean length
in tokens and distinct-1/2 (`rlhf.eval.diversity`), and, with a reward model (`--reward.model`),
its mean score of each side and its agreement with the judge on which response is better. With
`--best-of N` the policy side answers with the best of N samples by that reward model: the best-of-n
baseline that RL runs are compared with.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rlhf.data.files import atomic_write_text
from rlhf.data.formats import FormatName
from rlhf.data.prompts import PromptExample
from rlhf.data.records import render_plain
from rlhf.errors import UserError
from rlhf.eval.diversity import distinct_n
from rlhf.eval.winrate import ordering_agreement, outcomes, paired_bootstrap, wilson_interval
from rlhf.ops.best_of_n import select_best
from rlhf.progress import progress
from rlhf.quality.bootstrap import Estimate, finite_or_none
from rlhf.rewards.sources import RewardConfig, Scorer, build_scorer
from rlhf.rollout.policy import load_policy
from rlhf.rollout.sampling import SamplingConfig

logger = logging.getLogger(__name__)

__all__ = [
    "Drawn",
    "EvalConfig",
    "EvalResult",
    "PeopleConfig",
    "Sample",
    "SideResult",
    "draw",
    "evaluate",
    "summarize",
]

SAMPLES_SHOWN = 8
"""Prompts whose responses are kept in the result, for a look at what each policy says."""

Interval = Literal["wilson", "bootstrap"]


@dataclass(frozen=True, kw_only=True)
class PeopleConfig:
    """Judging by people: the pairs go to the annotation web app as a campaign."""

    campaign: str | None = None
    """Create this campaign of policy-vs-baseline pairs for `rlhf serve` instead of judging; read
    the win rate back with `rlhf eval-people --campaign NAME`."""
    db: str = "feedback.db"
    """The store `rlhf serve` runs on: an SQLite path or URL, or a PostgreSQL URL."""
    overlap: int = 3
    """People per pair."""
    annotators: str = ""
    """Comma-separated annotator names who take part (more can be added in the web app)."""
    instructions: str = (
        "Which response answers the request better? Judge the content, not the order."
    )
    """Shown to the annotators above every pair."""

    @property
    def annotator_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.annotators.split(",") if name.strip())


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """`rlhf eval`: win rate of a policy against a baseline, judged on held-out prompts."""

    data: str
    """Held-out prompts: FILE[,FILE] of any records (their prompts, de-duplicated)."""
    policy: str
    """The policy to evaluate: a local model directory with its tokenizer."""
    baseline: str
    """The policy it is compared with (e.g. the SFT model): a local model directory."""
    judge: RewardConfig = field(default_factory=RewardConfig)
    """The judge: a gold scorer (--judge.function file.py:name), a reward model (--judge.model
    DIR) or an HTTP scorer (--judge.url)."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Optional proxy reward model, scored on both sides and checked against the judge."""
    people: PeopleConfig = field(default_factory=PeopleConfig)
    """Judging by people through the web app (--people.campaign NAME) instead of a judge."""
    samples_per_prompt: int = 1
    """Responses per prompt from each policy; each pair is one comparison."""
    best_of: int = 1
    """n > 1: the policy answers with the best of n samples by the --reward.* model (the best-of-n
    baseline, e.g. of the SFT policy); the baseline samples once."""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    """How responses are sampled (the same for both policies)."""
    interval: Interval = "wilson"
    """The interval reported as win_rate_ci_low/high: Wilson score or paired bootstrap."""
    confidence: float = 0.95
    """Confidence level of the intervals."""
    resamples: int = 1000
    """Bootstrap resamples of the prompts."""
    format: FormatName | None = None
    """The prompts' format; detected from each file's first record when not given."""
    max_prompt_length: int = 256
    """Prompts longer than this many tokens lose tokens from the left."""
    batch_size: int = 64
    """Responses generated (and scored) together in one batch."""
    output: Path | None = None
    """Also write the JSON summary to this file (what `rlhf report` reads)."""
    seed: int = 0
    """Seeds the sampling of both policies (the same seed for each) and the bootstrap."""
    device: str = "cpu"
    """Where the policies and reward models run (`cpu`, `cuda`, ...)."""

    @property
    def policy_name(self) -> str:
        """How the policy side is named in results: `best-of-N(MODEL)` for best-of-n."""
        return self.policy if self.best_of == 1 else f"best-of-{self.best_of}({self.policy})"

    def __post_init__(self) -> None:
        if not self.judge.given and self.people.campaign is None:
            raise UserError(
                "rlhf eval needs a judge: --judge.function file.py:name (a gold scorer), "
                "--judge.model DIR (a reward model), --judge.url URL, or people: "
                "--people.campaign NAME (the pairs go to the annotation web app)"
            )
        if self.people.overlap < 1:
            raise UserError(f"people.overlap must be >= 1, got {self.people.overlap}")
        if self.samples_per_prompt < 1 or self.batch_size < 1 or self.best_of < 1:
            raise UserError("samples_per_prompt, best_of and batch_size must be >= 1")
        if self.best_of > 1 and not self.reward.given:
            raise UserError(
                "--best-of needs a reward model to pick the best: give --reward.model DIR "
                "(or --reward.function / --reward.url)"
            )
        if not 0.0 < self.confidence < 1.0:
            raise UserError(f"confidence must lie in (0, 1), e.g. 0.95; got {self.confidence}")
        if self.resamples < 0:
            raise UserError("resamples must be >= 0 (0 turns the bootstrap off)")


@dataclass(frozen=True)
class Sample:
    """One response as the judge saw it."""

    prompt: str
    response: str
    judge: float


@dataclass(frozen=True)
class SideResult:
    """What one policy's responses look like."""

    model: str
    judge_mean: float
    reward_mean: float | None
    """Mean score of the proxy reward model, when one was given."""
    length_mean: float
    """Mean response length in the policy's tokens (EOS included)."""
    distinct_1: float
    distinct_2: float
    samples: tuple[Sample, ...]
    """The first few prompts' first responses, for a look (the same prompts on both sides)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "judge_mean": finite_or_none(self.judge_mean),
            "reward_mean": None if self.reward_mean is None else finite_or_none(self.reward_mean),
            "length_mean": finite_or_none(self.length_mean),
            "distinct_1": finite_or_none(self.distinct_1),
            "distinct_2": finite_or_none(self.distinct_2),
            "samples": [asdict(sample) for sample in self.samples],
        }


@dataclass(frozen=True)
class EvalResult:
    prompts: int
    comparisons: int
    wins: int
    ties: int
    losses: int
    win_rate: float
    wilson: tuple[float, float]
    bootstrap: Estimate
    policy: SideResult
    baseline: SideResult
    reward_agreement: float | None
    """Share of the judge's decisive comparisons the reward model orders alike (nan: none)."""
    decisive: int
    """Comparisons the judge did not tie."""

    def interval(self, kind: Interval) -> tuple[float, float]:
        return self.wilson if kind == "wilson" else (self.bootstrap.low, self.bootstrap.high)

    def as_json(self, interval: Interval, confidence: float) -> dict[str, Any]:
        """The `rlhf eval --json` summary (also what `--output` writes and `rlhf report` reads)."""
        low, high = self.interval(interval)
        agreement = self.reward_agreement
        return {
            "win_rate": finite_or_none(self.win_rate),
            "win_rate_ci_low": finite_or_none(low),
            "win_rate_ci_high": finite_or_none(high),
            "interval": interval,
            "confidence": confidence,
            "wilson_low": finite_or_none(self.wilson[0]),
            "wilson_high": finite_or_none(self.wilson[1]),
            "bootstrap_low": finite_or_none(self.bootstrap.low),
            "bootstrap_high": finite_or_none(self.bootstrap.high),
            "prompts": self.prompts,
            "comparisons": self.comparisons,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "policy": self.policy.as_json(),
            "baseline": self.baseline.as_json(),
            "rm_judge_agreement": None if agreement is None else finite_or_none(agreement),
            "decisive": self.decisive,
        }


@dataclass(frozen=True)
class _Side:
    texts: list[str]  # P * k, prompt-major
    lengths: torch.Tensor  # (P * k,)
    judge: np.ndarray  # (P, k)
    reward: np.ndarray | None  # (P, k)
    prompts: list[PromptExample]


def evaluate(config: EvalConfig) -> EvalResult:
    """Sample both policies with the same seed, judge every response, and compare them."""
    judge = build_scorer(config.judge, device=config.device, what="judge")
    proxy = build_scorer(config.reward, device=config.device) if config.reward.given else None
    policy = _side(config, config.policy, judge, proxy, config.best_of)
    baseline = _side(config, config.baseline, judge, proxy)
    o = outcomes(policy.judge, baseline.judge)  # (P, k)
    boot = paired_bootstrap(policy.judge, baseline.judge, resamples=config.resamples,
                            confidence=config.confidence, seed=config.seed)  # fmt: skip
    agreement, decisive = math.nan, int((o != 0.5).sum())
    if policy.reward is not None and baseline.reward is not None:
        agreement, decisive = ordering_agreement(
            policy.judge, baseline.judge, policy.reward, baseline.reward
        )
    rate = float(o.mean())
    return EvalResult(
        prompts=o.shape[0],
        comparisons=o.size,
        wins=int((o == 1.0).sum()),
        ties=int((o == 0.5).sum()),
        losses=int((o == 0.0).sum()),
        win_rate=rate,
        wilson=wilson_interval(rate, o.size, config.confidence),
        bootstrap=boot,
        policy=_summary(config.policy_name, policy),
        baseline=_summary(config.baseline, baseline),
        reward_agreement=agreement if proxy is not None else None,
        decisive=decisive,
    )


def summarize(result: EvalResult, config: EvalConfig) -> dict[str, Any]:
    """The result's JSON summary, also written to `config.output` when it names a file."""
    summary = result.as_json(config.interval, config.confidence)
    if config.output is not None:
        atomic_write_text(config.output, json.dumps(summary, indent=2) + "\n")
    return summary


@dataclass(frozen=True)
class Drawn:
    """One policy's responses to the held-out prompts: k per prompt, prompt-major."""

    prompts: list[PromptExample]
    texts: list[str]  # P * k
    lengths: torch.Tensor  # (P * k,) in tokens, EOS included
    rewards: np.ndarray | None  # (P * k,) the proxy's scores, when one was given

    @property
    def repeated(self) -> list[PromptExample]:
        """The prompt of each response."""
        k = len(self.texts) // max(len(self.prompts), 1)
        return [p for p in self.prompts for _ in range(k)]


def draw(config: EvalConfig, model: str, proxy: Scorer | None, best_of: int = 1) -> Drawn:
    """One policy's k responses to every prompt, seeded by `config.seed`; with `best_of` n > 1,
    each is the best of n samples by the proxy reward."""
    loaded = load_policy(model, device=config.device)
    prompts = loaded.prompts(config.data, config.format, max_prompt_length=config.max_prompt_length)
    drawn = [p for p in prompts for _ in range(config.samples_per_prompt * best_of)]
    generator = torch.Generator(config.device).manual_seed(config.seed)
    texts: list[str] = []
    lengths = []
    starts = range(0, len(drawn), config.batch_size)
    for start in progress(starts, desc=f"eval {model}", total=len(starts)):
        batch = loaded.sample(drawn[start : start + config.batch_size], config.sampling,
                              generator=generator)  # fmt: skip
        texts.extend(batch.texts)
        lengths.append(batch.lengths)
    all_lengths = torch.cat(lengths)
    rewards = _scores(proxy, drawn, texts, config.batch_size) if proxy else None
    if best_of > 1:
        assert rewards is not None  # EvalConfig requires a reward source for best_of > 1
        best = select_best(torch.from_numpy(rewards).view(-1, best_of))  # (P * k,)
        rows = torch.arange(len(best)) * best_of + best
        texts, all_lengths, rewards = [texts[i] for i in rows], all_lengths[rows], rewards[rows]
    return Drawn(prompts, texts, all_lengths, rewards)


def _side(
    config: EvalConfig, model: str, judge: Scorer, proxy: Scorer | None, best_of: int = 1
) -> _Side:
    """One policy's responses (`draw`) and the judge's scores of them."""
    drawn = draw(config, model, proxy, best_of)
    shape = (len(drawn.prompts), config.samples_per_prompt)
    judged = _scores(judge, drawn.repeated, drawn.texts, config.batch_size).reshape(shape)
    rewards = None if drawn.rewards is None else drawn.rewards.reshape(shape)
    return _Side(drawn.texts, drawn.lengths, judged, rewards, drawn.prompts)


def _scores(
    scorer: Scorer, prompts: Sequence[PromptExample], texts: Sequence[str], batch_size: int
) -> np.ndarray:
    chunks = [
        scorer([p.prompt for p in prompts[i : i + batch_size]], texts[i : i + batch_size])
        for i in range(0, len(texts), batch_size)
    ]
    return torch.cat(chunks).double().cpu().numpy()


def _summary(model: str, side: _Side) -> SideResult:
    k = side.judge.shape[1]
    shown = range(min(SAMPLES_SHOWN, len(side.prompts)))
    return SideResult(
        model=model,
        judge_mean=float(side.judge.mean()),
        reward_mean=float(side.reward.mean()) if side.reward is not None else None,
        length_mean=float(side.lengths.double().mean()),
        distinct_1=distinct_n(side.texts, 1),
        distinct_2=distinct_n(side.texts, 2),
        samples=tuple(
            Sample(render_plain(side.prompts[i].prompt), side.texts[i * k], float(side.judge[i, 0]))
            for i in shown
        ),
    )
