"""The demo's annotators: simulated people who label through the web app's own service layer.

Each round becomes a campaign of the feedback store, created by an admin as in the web app. The
simulated annotators then work as people do there: each asks the service for its next item, sees
the two responses in the order the app chose to show them, answers (A, B or tie, with the seconds
spent), and asks again, until the campaign has `overlap` answers for every item. What they leave in
the store is exactly what people would: annotations with display order and timing, exportable and
analyzable by `rlhf quality` like any campaign's.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from rlhf.feedback import rules
from rlhf.feedback.auth import Principal
from rlhf.feedback.service import CampaignSpec, FeedbackService
from rlhf.quality.simulate import START, AnnotatorProfile, GoldScorer, SimulatedAnnotator
from rlhf.store import Store
from rlhf.store.campaigns import CampaignItem

__all__ = ["PANEL", "SPAMMER", "label_campaign"]

NOISE = 0.8
"""Bradley-Terry temperature of the careful annotators, in gold-score units: a response better
by one point (a polite opening) is preferred about 72% of the time (ties aside), by three points
(a refusal over compliance) 97%."""

SPAMMER = "spammer"
PANEL: tuple[AnnotatorProfile, ...] = (
    AnnotatorProfile(name="careful-1", temperature=NOISE),
    AnnotatorProfile(name="careful-2", temperature=NOISE),
    AnnotatorProfile(name="careful-3", temperature=NOISE),
    AnnotatorProfile(name="lefty", temperature=NOISE, position_bias=0.6),
    AnnotatorProfile(name="tired", temperature=NOISE, fatigue_onset=60, fatigue_rate=0.05),
    AnnotatorProfile(name=SPAMMER, spam="random", seconds_median=4.0),
)
"""Three careful annotators, one who picks the left response ~80% of the time, one who tires
after 60 items, and a fast spammer who answers at random."""

ADMIN_TOKEN = "rlhf-demo-admin-token-not-for-real-use"
"""The demo's own admin token (its store is local and holds only simulated people)."""


def label_campaign(
    store: Store,
    name: str,
    items: Sequence[CampaignItem],
    gold: GoldScorer,
    *,
    overlap: int,
    day: int,
    seed: int,
) -> int:
    """Create campaign `name` and let the panel label it through the service; returns the answers.

    The annotators start fresh on day `day` of the simulated calendar (rested: fatigue resets).
    """
    clock = [START + timedelta(days=day)]
    service = FeedbackService(store, clock=lambda: clock[0], rng=random.Random(seed))
    service.admin_token(ADMIN_TOKEN)
    admin = service.principal(ADMIN_TOKEN)
    people = {p.name: service.principal(service.add_annotator(admin, p.name)) for p in PANEL}
    service.create_campaign(
        admin,
        CampaignSpec(
            name=name, overlap=overlap, annotators=tuple(people), items=tuple(items), seed=seed
        ),
    )
    simulated = {
        p.name: SimulatedAnnotator(p, gold, seed=seed * 100 + j, start=clock[0])
        for j, p in enumerate(PANEL)
    }
    working, answers = list(PANEL), 0
    while working:  # in turns, as people working at the same time
        for profile in list(working):
            if not _answer_next(
                service, people[profile.name], simulated[profile.name], name, clock
            ):
                working.remove(profile)
                continue
            answers += 1
    return answers


def _answer_next(
    service: FeedbackService,
    who: Principal,
    annotator: SimulatedAnnotator,
    campaign: str,
    clock: list[datetime],
) -> bool:
    """One item judged by `annotator` through the service; False when none is left for them."""
    shown = service.next_item(who, campaign)
    if shown is None:
        return False
    a, b = shown.responses
    judgment, seconds = annotator.judge_shown(shown.prompt, (a, b))
    clock[0] = annotator.clock  # the answer arrives when the simulated person sends it
    answer = rules.Answer(judgment=judgment, seconds=seconds)
    service.answer(who, shown.assignment, uuid.uuid4().hex, answer)
    return True
