"""Simulated annotators: synthetic humans with known noise, biases, fatigue and bad faith.

A hidden gold scorer g(prompt, response) rates every response. An honest annotator compares two
responses by Bradley-Terry with Rao-Kupper ties, at a temperature T (noise),

    d = (g_a - g_b) / T + length_bias log2((len_a + 1) / (len_b + 1)),
    P(a) = sigmoid(d - theta),   P(b) = sigmoid(-d - theta),   P(tie) = 1 - P(a) - P(b),

and then, in this order: a spammer replaces the answer (`random`: a or b by a coin flip;
`adversarial`: a and b swapped); with probability `position_bias` the annotator picks whatever
is on the left without reading; and a tired annotator lapses into a coin flip with probability

    lapse(n) = fatigue_max (1 - exp(-fatigue_rate (n - fatigue_onset)))   for n > fatigue_onset,

n = items answered since the last break (a break every `break_every` items resets n). Seconds per
item are log-normal around `seconds_median`, shorter by up to 60% when lapsing.

The annotators answer through the same `Store` interface people use (`annotate_in_store`), or
return `Annotation` records (`annotate`). With `gold_in_metadata` each annotation carries the gold
label as `metadata["gold"]`, which the quality report uses for accuracy on gold items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np

from rlhf.data.records import Annotation, Judgment, Text, text_length
from rlhf.errors import UserError

if TYPE_CHECKING:
    from rlhf.store import Store

GoldScorer = Callable[[Text, Text], float]
"""The hidden gold reward of a response to a prompt: g(prompt, response)."""
SpamKind = Literal["none", "random", "adversarial"]
START = datetime.fromisoformat("2026-01-05T09:00:00+00:00")


@dataclass(frozen=True, kw_only=True)
class AnnotatorProfile:
    """How one simulated annotator judges."""

    name: str
    temperature: float = 1.0
    """Bradley-Terry noise T: larger is noisier."""
    tie_threshold: float = 0.3
    """Rao-Kupper theta: how close two responses must seem to be called a tie."""
    position_bias: float = 0.0
    """Probability of picking the left response without reading (0.6 gives ~80% left)."""
    length_bias: float = 0.0
    """Log-odds added per doubling of a's length relative to b's."""
    fatigue_onset: int | None = None
    """Items since the last break after which lapses begin; None: never tires."""
    fatigue_rate: float = 0.03
    """How fast lapses grow after the onset, per item."""
    fatigue_max: float = 0.8
    """The lapse probability approached when exhausted."""
    break_every: int | None = None
    """Items between breaks (each break resets fatigue); None: no breaks."""
    break_minutes: float = 15.0
    spam: SpamKind = "none"
    seconds_median: float = 30.0
    seconds_sigma: float = 0.3
    """Spread of log-seconds."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name: empty; give the simulated annotator a name")
        if self.temperature <= 0 or self.seconds_median <= 0:
            raise ValueError("temperature and seconds_median must be > 0")
        for name in ("position_bias", "fatigue_max"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.tie_threshold < 0 or self.fatigue_rate < 0 or self.seconds_sigma < 0:
            raise ValueError("tie_threshold, fatigue_rate and seconds_sigma must be >= 0")


@dataclass(frozen=True)
class SimulatedItem:
    """An item to judge: an id, a prompt and two responses."""

    id: str
    prompt: Text
    responses: tuple[Text, Text]


def gold_label(a: float, b: float) -> Judgment:
    """The gold judgment of two gold scores."""
    return "a" if a > b else "b" if b > a else "tie"


class SimulatedAnnotator:
    """One simulated person working through items, getting tired, taking breaks."""

    def __init__(
        self, profile: AnnotatorProfile, gold: GoldScorer, *, seed: int = 0, start: datetime = START
    ) -> None:
        self.profile = profile
        self.gold = gold
        self.rng = np.random.default_rng(seed)
        self.clock = start
        self.since_break = 0
        self.answered = 0

    def lapse(self) -> float:
        """The probability of a coin-flip answer on the next item."""
        p = self.profile
        if p.fatigue_onset is None or self.since_break <= p.fatigue_onset:
            return 0.0
        excess = self.since_break - p.fatigue_onset
        return p.fatigue_max * (1.0 - math.exp(-p.fatigue_rate * excess))

    def _honest(self, item: SimulatedItem, g_a: float, g_b: float) -> Judgment:
        p = self.profile
        lengths = [text_length(t) for t in item.responses]
        d = (g_a - g_b) / p.temperature
        d += p.length_bias * math.log2((lengths[0] + 1) / (lengths[1] + 1))
        u = 1 / (1 + math.exp(-(d - p.tie_threshold)))
        v = 1 / (1 + math.exp(-(-d - p.tie_threshold)))
        draw = self.rng.random()
        return "a" if draw < u else "b" if draw < u + v else "tie"

    def _decide(
        self, item: SimulatedItem, g_a: float, g_b: float, left: int, lapse: float
    ) -> Judgment:
        p = self.profile
        coin: Judgment = "a" if self.rng.random() < 0.5 else "b"
        judgment = self._honest(item, g_a, g_b)
        if p.spam == "random":
            judgment = coin
        elif p.spam == "adversarial":
            judgment = {"a": "b", "b": "a"}.get(judgment, judgment)  # type: ignore[assignment]
        if self.rng.random() < p.position_bias:
            judgment = "ab"[left]  # type: ignore[assignment]
        if self.rng.random() < lapse:
            judgment = coin
        return judgment

    def _spend_time(self, lapse: float) -> tuple[datetime, float]:
        """Advance the clock, fatigue and breaks by one item: (when it started, seconds spent)."""
        p = self.profile
        seconds = float(self.rng.lognormal(math.log(p.seconds_median), p.seconds_sigma))
        seconds = round(seconds * (1.0 - 0.6 * lapse), 2)
        started = self.clock
        self.clock += timedelta(seconds=seconds)
        self.answered += 1
        self.since_break += 1
        if p.break_every is not None and self.since_break >= p.break_every:
            self.clock += timedelta(minutes=p.break_minutes)
            self.since_break = 0
        return started, seconds

    def judge(self, item: SimulatedItem, *, gold_in_metadata: bool = True) -> Annotation:
        """Judge one item shown in a random order, advancing the clock, fatigue and breaks."""
        g_a, g_b = (self.gold(item.prompt, r) for r in item.responses)
        left = int(self.rng.integers(2))
        lapse = self.lapse()
        judgment = self._decide(item, g_a, g_b, left, lapse)
        created, seconds = self._spend_time(lapse)
        return Annotation(
            item_id=item.id,
            annotator=self.profile.name,
            prompt=item.prompt,
            responses=item.responses,
            judgment=judgment,
            display_order=(left, 1 - left),
            seconds=seconds,
            created_at=created.isoformat(),
            source="simulated",
            metadata={"gold": gold_label(g_a, g_b)} if gold_in_metadata else {},
        )

    def judge_shown(self, prompt: Text, shown: tuple[Text, Text]) -> tuple[Judgment, float]:
        """Judge two responses as a screen shows them (`a` = the left one), as a person in the web
        app does: (the judgment of the shown order, seconds spent). `self.clock` is then when the
        answer was sent."""
        item = SimulatedItem("shown", prompt, shown)
        g_a, g_b = (self.gold(prompt, r) for r in shown)
        lapse = self.lapse()
        judgment = self._decide(item, g_a, g_b, 0, lapse)
        return judgment, self._spend_time(lapse)[1]


def assignments(
    n_items: int, n_annotators: int, *, per_item: int | None = None, seed: int = 0
) -> list[list[int]]:
    """Which items each annotator judges, in the order they judge them (a shuffled session).

    Every annotator judges every item, or, with `per_item`, each item goes to that many annotators
    drawn at random.
    """
    rng = np.random.default_rng(seed)
    if per_item is None:
        chosen = [list(range(n_items))] * n_annotators
    else:
        if not 1 <= per_item <= n_annotators:
            raise ValueError(f"per_item must lie in 1..{n_annotators}, got {per_item}")
        chosen = [[] for _ in range(n_annotators)]
        for i in range(n_items):
            for j in rng.choice(n_annotators, size=per_item, replace=False):
                chosen[int(j)].append(i)
    return [[int(i) for i in rng.permutation(items)] for items in chosen]


def _sessions(
    items: Sequence[SimulatedItem],
    profiles: Sequence[AnnotatorProfile],
    gold: GoldScorer,
    per_item: int | None,
    seed: int,
) -> Iterable[tuple[SimulatedAnnotator, SimulatedItem]]:
    plan = assignments(len(items), len(profiles), per_item=per_item, seed=seed)
    for j, (profile, order) in enumerate(zip(profiles, plan, strict=True)):
        annotator = SimulatedAnnotator(profile, gold, seed=seed * 1000 + j + 1)
        for i in order:
            yield annotator, items[i]


def annotate(
    items: Sequence[SimulatedItem],
    profiles: Sequence[AnnotatorProfile],
    gold: GoldScorer,
    *,
    per_item: int | None = None,
    seed: int = 0,
    gold_in_metadata: bool = True,
) -> list[Annotation]:
    """Every simulated judgment, annotator by annotator, each in session order."""
    return [
        annotator.judge(item, gold_in_metadata=gold_in_metadata)
        for annotator, item in _sessions(items, profiles, gold, per_item, seed)
    ]


def annotate_in_store(
    store: Store,
    items: Sequence[SimulatedItem],
    profiles: Sequence[AnnotatorProfile],
    gold: GoldScorer,
    *,
    per_item: int | None = None,
    seed: int = 0,
    gold_in_metadata: bool = True,
) -> int:
    """Let the simulated annotators work through the store, as people do; returns judgments made.

    Each annotator is added with `add_annotator`, each item with `add_item`, each judgment with
    `record_annotation`.
    """
    for profile in profiles:
        store.add_annotator(profile.name)
    for item in items:
        store.add_item(item.prompt, item.responses, external_id=item.id, source="simulated")
    made = 0
    for annotator, item in _sessions(items, profiles, gold, per_item, seed):
        made += store.record_annotation(annotator.judge(item, gold_in_metadata=gold_in_metadata))
    return made


WORDS = ("the", "answer", "is", "clear", "because", "each", "step", "follows", "from", "last",
         "and", "result", "checks", "out", "although", "some", "details", "are", "missing",
         "while", "other", "parts", "repeat", "what", "was", "already", "said")  # fmt: skip


class ScoreTable:
    """A gold scorer backed by a table of known scores, for synthetic items."""

    def __init__(self, scores: dict[tuple[Text, Text], float]) -> None:
        self.scores = scores

    def __call__(self, prompt: Text, response: Text) -> float:
        try:
            return self.scores[prompt, response]
        except KeyError:
            raise UserError("the gold scorer has no score for this response") from None


def synthetic_items(
    n: int, *, seed: int = 0, min_words: int = 3, max_words: int = 60
) -> tuple[list[SimulatedItem], ScoreTable]:
    """`n` items with two responses of random length and gold quality ~ N(0, 1), independent of
    length, and the gold scorer that knows them."""
    rng = np.random.default_rng(seed)
    items: list[SimulatedItem] = []
    scores: dict[tuple[Text, Text], float] = {}
    for i in range(n):
        prompt = f"Task {i}: explain your answer."
        responses = []
        for side in "ab":
            words = " ".join(rng.choice(WORDS, size=int(rng.integers(min_words, max_words + 1))))
            text = f"Answer {i}{side}: {words}."
            scores[prompt, text] = float(rng.normal())
            responses.append(text)
        items.append(SimulatedItem(f"sim-{i}", prompt, (responses[0], responses[1])))
    return items, ScoreTable(scores)


PLANTED: tuple[AnnotatorProfile, ...] = (
    AnnotatorProfile(name="steady-1", temperature=0.5),
    AnnotatorProfile(name="steady-2", temperature=0.5),
    AnnotatorProfile(name="steady-3", temperature=0.5),
    AnnotatorProfile(name="lefty", temperature=0.5, position_bias=0.6),
    AnnotatorProfile(name="tired", temperature=0.5, fatigue_onset=100, fatigue_rate=0.05),
    AnnotatorProfile(name="spammer", spam="random", seconds_median=4.0),
)
"""The planted-bias panel of the tests and docs: three careful annotators, one who picks the left
response ~80% of the time, one who tires after 100 items, and a fast random spammer."""
