"""From policies to labels: response pairs to judge, the campaign's answers, and their checks.

`sample_items` draws the pairs a round's annotators judge (some of them gold questions whose answer
the task knows); `consensus` exports the campaign's answers aggregated into training pairs;
`split_items` keeps a share of items out of training; `gold_agreement` says how often a set of
labels (the majority vote, or a reward model's ordering) agrees with the hidden gold preference.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rlhf.data.records import Annotation, PreferencePair, render_plain
from rlhf.data.validation import check_texts
from rlhf.demo.task import gold
from rlhf.feedback.export import export_records
from rlhf.quality.simulate import gold_label
from rlhf.rollout.policy import LoadedPolicy
from rlhf.rollout.sampling import SamplingConfig
from rlhf.store import Store
from rlhf.store.campaigns import CampaignItem

__all__ = [
    "Agreement",
    "campaign_annotations",
    "consensus",
    "gold_agreement",
    "sample_items",
    "split_items",
]

MAX_PROMPT_TOKENS = 64
"""The task's prompts are a few words; nothing is ever cut."""
GOLD_SHARE = 0.1
"""Share of a campaign's items that are gold questions (answer known, shown like any other)."""
GOLD_MARGIN = 3.0
"""A gold question's two responses differ by at least this much gold score: its answer is not
a matter of taste (e.g. a refusal against compliance)."""


def sample_items(
    name: str,
    prompts: Sequence[str],
    first: LoadedPolicy,
    second: LoadedPolicy,
    sampling: SamplingConfig,
    *,
    seed: int,
) -> list[CampaignItem]:
    """One response from each policy per prompt, as campaign items (pairs of identical, empty or
    invalid responses are left out); clear-cut pairs become gold questions, about `GOLD_SHARE` of the items."""
    generator = torch.Generator().manual_seed(seed)
    a, b = (
        policy.sample(
            policy.encode(prompts, max_prompt_length=MAX_PROMPT_TOKENS), sampling,
            generator=generator,
        ).texts
        for policy in (first, second)
    )  # fmt: skip
    rng = random.Random(seed)
    items = []
    for index, (prompt, x, y) in enumerate(zip(prompts, a, b, strict=True)):
        if x == y or check_texts({"a": x, "b": y}):  # identical, empty or not storable
            continue
        if (
            rng.random() < 0.5
        ):  # which policy's response is `a` is random, as is which is shown left
            x, y = y, x
        g_x, g_y = gold([prompt], [x])[0], gold([prompt], [y])[0]
        is_gold = abs(g_x - g_y) >= GOLD_MARGIN and rng.random() < 2 * GOLD_SHARE
        items.append(
            CampaignItem(
                prompt=prompt,
                responses=(x, y),
                id=f"{name}/{index}",
                gold=gold_label(g_x, g_y) if is_gold else None,
                source=f"{first.model} vs {second.model}",
            )
        )
    return items


def consensus(store: Store, campaign: str, method: str) -> list[PreferencePair]:
    """The campaign's answers aggregated by `method` into one training pair per item."""
    pairs = export_records(store, campaign, "aggregated", method)
    return [p for p in pairs if isinstance(p, PreferencePair)]


def campaign_annotations(store: Store, campaign: str) -> list[Annotation]:
    """Every answer of the campaign, as stored."""
    return [a for a in export_records(store, campaign, "annotations") if isinstance(a, Annotation)]


def split_items(
    pairs: Sequence[PreferencePair], held_out: float, *, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(training, held-out) pairs: a seeded `held_out` share of items is kept out of training."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    cut = round(len(pairs) * held_out)
    kept = set(order[:cut])
    training = [p for i, p in enumerate(pairs) if i not in kept]
    return training, [p for i, p in enumerate(pairs) if i in kept]


@dataclass(frozen=True)
class Agreement:
    """How often labels order two responses as the gold preference does."""

    rate: float
    """Share of gold-decisive pairs ordered like gold; a label that calls them even counts half."""
    pairs: int
    """Pairs whose two responses differ in gold score (the others have no right answer)."""


def gold_agreement(
    pairs: Sequence[PreferencePair],
    order: Callable[[Sequence[PreferencePair]], np.ndarray] | None = None,
) -> Agreement:
    """Agreement of the pairs' own labels (chosen over rejected, `tie` even) with gold, or, with
    `order`, of the scores it gives: order(pairs) -> (N,) > 0 where it prefers chosen."""
    prompts = [render_plain(p.prompt) for p in pairs]
    margin = np.array(gold(prompts, [render_plain(p.chosen) for p in pairs])) - np.array(
        gold(prompts, [render_plain(p.rejected) for p in pairs])
    )
    if order is None:
        said = np.array([0.0 if p.tie else 1.0 for p in pairs])
    else:
        said = np.sign(order(pairs))
    decisive = margin != 0
    agree = np.where(said == 0, 0.5, (np.sign(said) == np.sign(margin)).astype(float))
    n = int(decisive.sum())
    return Agreement(float(agree[decisive].mean()) if n else float("nan"), n)
