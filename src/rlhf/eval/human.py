"""Win rate judged by people: policy-vs-baseline pairs go to the annotation web app as a campaign,
and the win rate is read back from the answers.

`rlhf eval --people.campaign NAME` samples both policies on the held-out prompts exactly as a
judged `rlhf eval` does (the same seed for both) and creates a campaign in the store whose item i
pairs the policy's response (`a`) with the baseline's (`b`) to prompt i; each response's provenance
names its model, and the web app shows the two in a random order. People answer in `rlhf serve`.
`rlhf eval-people --campaign NAME` then reads every answer:

    o = 1 (the policy's response preferred), 0 (the baseline's), 1/2 (tie, or both bad)
    o_i = the mean of item i's answers;   win rate = mean of o_i over the items answered,

with a Wilson interval over items (conservative: the mean of several answers varies less than one
coin flip) and a percentile bootstrap over items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlhf.data.records import Annotation
from rlhf.data.validation import check_texts
from rlhf.errors import UserError
from rlhf.eval.compare import EvalConfig, draw
from rlhf.eval.winrate import wilson_interval
from rlhf.quality.bootstrap import bootstrap, finite_or_none
from rlhf.store import Store
from rlhf.store.campaigns import CampaignItem
from rlhf.store.contents import Provenance

__all__ = ["PeopleResultsConfig", "people_win_rate", "send_to_people"]

OUTCOME = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
"""What an answer says about the policy (`a`) against the baseline (`b`)."""


def pair_items(config: EvalConfig) -> list[CampaignItem]:
    """Item i: prompt i's policy response as `a` and baseline response as `b`, with provenance."""
    policy, baseline = draw(config, config.policy, None), draw(config, config.baseline, None)
    sampling = {"seed": config.seed, "temperature": config.sampling.temperature,
                "max_new_tokens": config.sampling.max_new_tokens}  # fmt: skip
    provenance = (Provenance(model=config.policy, sampling=sampling),
                  Provenance(model=config.baseline, sampling=sampling))  # fmt: skip
    return [
        CampaignItem(
            prompt=prompt.prompt,
            responses=(ours, theirs),
            provenance=provenance,
            source=f"rlhf eval: {config.policy} vs {config.baseline}",
        )
        for prompt, ours, theirs in zip(policy.repeated, policy.texts, baseline.texts, strict=True)
        if ours != theirs and not check_texts({"a": ours, "b": theirs})  # empty, or a NUL
    ]


def send_to_people(config: EvalConfig) -> dict[str, Any]:
    """Create the campaign of `config.people`; returns what was created. Identical pairs, and
    pairs with an empty or unstorable response, are left out."""
    from rlhf.feedback.auth import Principal
    from rlhf.feedback.service import CampaignSpec, FeedbackService

    people = config.people
    assert people.campaign is not None
    items = pair_items(config)
    if not items:
        raise UserError(
            "every pair of responses is identical or empty: nothing for people to judge"
        )
    with Store.open(people.db) as store:
        spec = CampaignSpec(name=people.campaign, instructions=people.instructions,
                            overlap=people.overlap, annotators=people.annotator_names,
                            items=tuple(items), seed=config.seed)  # fmt: skip
        local_admin = Principal("admin", None, "", via_cookie=False)  # this process owns the store
        info = FeedbackService(store).create_campaign(local_admin, spec)
    return {"campaign": info.name, "items": info.items, "answers_needed": info.target,
            "annotators": list(info.annotators), "db": people.db}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class PeopleResultsConfig:
    """`rlhf eval-people`: the win rate people gave a policy in a `rlhf eval` campaign."""

    campaign: str
    """The campaign `rlhf eval --people.campaign NAME` created."""
    db: str = "feedback.db"
    """The store: an SQLite path or URL, or a PostgreSQL URL."""
    confidence: float = 0.95
    """Confidence level of the intervals."""
    resamples: int = 1000
    """Bootstrap resamples of the items."""
    seed: int = 0
    """Seeds the bootstrap."""
    output: Path | None = None
    """Also write the JSON summary to this file."""

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0 or self.resamples < 0:
            raise UserError("confidence must lie in (0, 1) and resamples be >= 0")


def item_outcomes(annotations: Sequence[Annotation]) -> tuple[np.ndarray, int]:
    """o_i of every item answered (I,), and the number of answers used (rankings left out)."""
    by_item: dict[str, list[float]] = {}
    for annotation in annotations:
        if annotation.judgment in OUTCOME:
            by_item.setdefault(annotation.item_id, []).append(OUTCOME[annotation.judgment])
    means = np.array([np.mean(votes) for votes in by_item.values()], dtype=np.float64)
    return means, sum(len(votes) for votes in by_item.values())


def people_win_rate(config: PeopleResultsConfig) -> dict[str, Any]:
    """The win rate of the campaign's answers, with a Wilson and a bootstrap interval."""
    from rlhf.feedback.export import export_records

    with Store.open(config.db) as store:
        info = store.campaigns.info(config.campaign)
        answers = [a for a in export_records(store, config.campaign, "annotations")
                   if isinstance(a, Annotation)]  # fmt: skip
    outcomes, used = item_outcomes(answers)
    rate = float(outcomes.mean()) if outcomes.size else float("nan")
    low, high = wilson_interval(rate, int(outcomes.size), config.confidence)
    boot = bootstrap(lambda o: float(o.mean()), outcomes, resamples=config.resamples,
                     confidence=config.confidence, seed=config.seed)  # fmt: skip
    return {
        "campaign": config.campaign, "win_rate": finite_or_none(rate),
        "win_rate_ci_low": finite_or_none(low), "win_rate_ci_high": finite_or_none(high),
        "interval": "wilson", "confidence": config.confidence,
        "bootstrap_low": finite_or_none(boot.low), "bootstrap_high": finite_or_none(boot.high),
        "items": info.items, "items_answered": int(outcomes.size), "answers": used,
        "answers_needed": info.target,
    }  # fmt: skip
