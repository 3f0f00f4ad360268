"""The campaign work done inside one transaction: the queries and updates `Campaigns` composes.

Every function takes the open session; none commits. The atomic steps that keep the guarantees
(see `rlhf.store.campaigns`) are `take` (claim one of an item's `overlap` places with a conditional
UPDATE), `give_back`, `expire`, `locked` (the assignment row, locked) and `replayed` (is this
submission the one stored already?).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from rlhf.data.validation import check_texts
from rlhf.store.campaign_values import CampaignInfo, CampaignItem, Lease, NewCampaign
from rlhf.store.codec import default_item_id, item_json, text_from_json, text_hash
from rlhf.store.errors import Conflict, NotFound, StoreError
from rlhf.store.importer import Importer, item_content
from rlhf.store.schema import (
    AnnotationRow,
    AnnotatorRow,
    AssignmentRow,
    CampaignAnnotatorRow,
    CampaignItemRow,
    CampaignRow,
    ItemResponseRow,
    ItemRow,
)

logger = logging.getLogger(__name__)

CANDIDATES = 8
"""Items read per attempt to lease one; concurrent annotators start at different ones."""


def check_new(new: NewCampaign) -> None:
    problems = []
    if not new.name.strip():
        problems.append("name: empty; give the campaign a name")
    if new.overlap < 1:
        problems.append(f"overlap: {new.overlap}; give at least 1 annotator per item")
    if new.lease_seconds < 1:
        problems.append(f"lease_seconds: {new.lease_seconds}; give at least 1")
    if not new.items:
        problems.append("items: none; a campaign needs at least one item")
    if any(not name.strip() for name in new.annotators):
        problems.append("annotators: an empty name")
    for i, item in enumerate(new.items):
        texts = {"prompt": item.prompt} | {
            f"responses[{j}]": response for j, response in enumerate(item.responses)
        }
        problems.extend(f"items[{i}].{name}: {reason}" for name, reason in check_texts(texts))
    ids = [item.id for item in new.items if item.id is not None]
    if len(set(ids)) != len(ids):
        problems.append("items: the same id given twice")
    if problems:
        raise StoreError(f"campaign {new.name!r}: " + "; ".join(problems))


def items(session: Session, items: Sequence[CampaignItem]) -> list[ItemRow]:
    """The stored item of each campaign item, created when new."""
    importer = Importer(session)
    ids = [item.id or default_item_id(item.prompt, item.responses) for item in items]
    importer.load_items(set(ids))
    importer.contents.load_prompts({text_hash(item.prompt) for item in items}, set())
    rows = []
    for external_id, item in zip(ids, items, strict=True):
        row = importer.find_item(external_id)
        if row is not None and item_content(row) != item_json(item.prompt, item.responses):
            raise Conflict(
                f"item {external_id!r}: already stored with another prompt or responses; "
                "give the new item another id"
            )
        if row is None:
            kind = "pair" if len(item.responses) == 2 else "ranking"
            row = importer.item(
                external_id,
                item.prompt,
                item.responses,
                kind=kind,
                source=item.source,
                provenance=item.provenance,
            )
        rows.append(row)
    if len({id(row) for row in rows}) != len(rows):
        raise StoreError("items: the same item (same prompt and responses) given twice")
    return rows


def join(session: Session, campaign: CampaignRow, names: Sequence[str]) -> None:
    """Make the annotators called `names` (created when new) take part in `campaign`."""
    importer = Importer(session)
    importer.load_annotators(set(names))
    rows = [importer.annotator(name) for name in dict.fromkeys(names)]
    session.flush()
    present = set(
        session.scalars(
            select(CampaignAnnotatorRow.annotator_id).where(
                CampaignAnnotatorRow.campaign_id == campaign.id
            )
        )
    )
    for row in rows:
        if row.id not in present:
            session.add(CampaignAnnotatorRow(campaign_id=campaign.id, annotator_id=row.id))


def campaign(session: Session, name: str) -> CampaignRow:
    row = session.scalar(select(CampaignRow).where(CampaignRow.name == name))
    if row is None:
        raise NotFound(f"no campaign called {name!r}")
    return row


def member(session: Session, campaign: CampaignRow, annotator: str) -> int:
    """The id of `annotator`, locked for this transaction (their requests run one at a time);
    `NotFound` unless they take part in `campaign`."""
    who = session.scalar(
        select(AnnotatorRow.id)
        .join(CampaignAnnotatorRow)
        .where(AnnotatorRow.name == annotator, CampaignAnnotatorRow.campaign_id == campaign.id)
    )
    if who is None:
        raise NotFound(f"campaign {campaign.name!r}: {annotator} does not take part in it")
    session.execute(select(AnnotatorRow.id).where(AnnotatorRow.id == who).with_for_update())
    return who


def assignments(campaign_id: int, annotator_id: int, *statuses: str) -> Select[AssignmentRow]:
    return (
        select(AssignmentRow)
        .where(
            AssignmentRow.campaign_id == campaign_id,
            AssignmentRow.annotator_id == annotator_id,
            AssignmentRow.status.in_(statuses),
        )
        .limit(1)
    )


def candidates(campaign: CampaignRow, annotator_id: int) -> Select[int]:
    """Items with a free place that the annotator never held nor judged, fullest first."""
    held = select(AssignmentRow.item_id).where(AssignmentRow.annotator_id == annotator_id)
    judged = select(AnnotationRow.item_id).where(AnnotationRow.annotator_id == annotator_id)
    return (
        select(CampaignItemRow.item_id)
        .where(
            CampaignItemRow.campaign_id == campaign.id,
            CampaignItemRow.taken < campaign.overlap,
            CampaignItemRow.item_id.not_in(held),
            CampaignItemRow.item_id.not_in(judged),
        )
        .order_by(CampaignItemRow.taken.desc(), CampaignItemRow.position)
        .limit(CANDIDATES)
    )


def expire(session: Session, campaign: CampaignRow, now: datetime) -> int:
    """Mark the campaign's leases overdue at `now` expired and give their places back."""
    overdue = session.execute(
        select(AssignmentRow.id, AssignmentRow.item_id)
        .where(
            AssignmentRow.campaign_id == campaign.id,
            AssignmentRow.status == "leased",
            AssignmentRow.expires_at < now,
        )
        .order_by(AssignmentRow.id)
    ).all()
    expired = 0
    for assignment_id, item_id in overdue:
        changed = session.execute(
            update(AssignmentRow)
            .where(
                AssignmentRow.id == assignment_id,
                AssignmentRow.status == "leased",
                AssignmentRow.expires_at < now,
            )
            .values(status="expired", finished_at=now)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            give_back(session, campaign.id, item_id)
            expired += 1
    if expired:
        logger.info(
            "campaign %s: %d lease(s) expired, items back in the pool", campaign.name, expired
        )
    return expired


def take(session: Session, campaign: CampaignRow, item_id: int) -> bool:
    """Claim one of the item's `overlap` places; False when they are all taken."""
    claimed = session.execute(
        update(CampaignItemRow)
        .where(
            CampaignItemRow.campaign_id == campaign.id,
            CampaignItemRow.item_id == item_id,
            CampaignItemRow.taken < campaign.overlap,
        )
        .values(taken=CampaignItemRow.taken + 1)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def give_back(session: Session, campaign_id: int, item_id: int) -> None:
    session.execute(
        update(CampaignItemRow)
        .where(CampaignItemRow.campaign_id == campaign_id, CampaignItemRow.item_id == item_id)
        .values(taken=CampaignItemRow.taken - 1)
    )


def locked(session: Session, assignment_id: int) -> AssignmentRow:
    row = session.get(AssignmentRow, assignment_id, with_for_update=True)
    if row is None or row.campaign_id is None:
        raise NotFound(f"no assignment {assignment_id}")
    return row


def replayed(row: AssignmentRow, submission_id: str, outcome: str) -> bool:
    """True when `submission_id` already did this to the assignment; `Conflict` when the
    assignment is no longer open for another reason."""
    if row.submission_id == submission_id and row.status == outcome:
        return True
    if row.status == "leased":
        return False
    reasons = {
        "done": "was answered already (undo it to answer again)",
        "skipped": "was skipped (undo it to answer it)",
        "expired": "lease expired and the item went back to the pool; take the next item",
    }
    raise Conflict(f"assignment {row.id}: {reasons[row.status]}")


def view(session: Session, row: AssignmentRow) -> Lease:
    """The assignment as a `Lease`: its item's texts, display order, campaign and gold answer."""
    entries = selectinload(ItemRow.entries).joinedload(ItemResponseRow.response)
    item = session.scalars(
        select(ItemRow)
        .where(ItemRow.id == row.item_id)
        .options(joinedload(ItemRow.prompt), entries)
    ).one()
    campaign = session.get(CampaignRow, row.campaign_id)
    assert campaign is not None
    name = session.scalar(select(AnnotatorRow.name).where(AnnotatorRow.id == row.annotator_id))
    gold = session.scalar(
        select(CampaignItemRow.gold).where(
            CampaignItemRow.campaign_id == campaign.id, CampaignItemRow.item_id == row.item_id
        )
    )
    responses = tuple(text_from_json(entry.response.content) for entry in item.entries)
    return Lease(
        id=row.id,
        campaign=campaign.name,
        instructions=campaign.instructions,
        annotator=name or "",
        item_id=item.external_id,
        prompt=text_from_json(item.prompt.content),
        responses=responses,
        display_order=tuple(row.display_order or range(len(responses))),
        status=row.status,
        leased_at=row.leased_at,
        expires_at=row.expires_at,
        gold=gold,
        submission_id=row.submission_id,
    )


def info(session: Session, row: CampaignRow) -> CampaignInfo:
    in_campaign = CampaignItemRow.campaign_id == row.id
    items = session.scalar(select(func.count()).where(in_campaign)) or 0
    gold = session.scalar(
        select(func.count()).where(in_campaign, CampaignItemRow.gold.is_not(None))
    )
    done = (
        select(AssignmentRow.item_id, func.count().label("n"))
        .where(AssignmentRow.campaign_id == row.id, AssignmentRow.status == "done")
        .group_by(AssignmentRow.item_id)
        .subquery()
    )
    labels = session.scalar(select(func.coalesce(func.sum(done.c.n), 0))) or 0
    complete = session.scalar(select(func.count()).where(done.c.n >= row.overlap)) or 0
    names = session.scalars(
        select(AnnotatorRow.name)
        .join(CampaignAnnotatorRow)
        .where(CampaignAnnotatorRow.campaign_id == row.id)
        .order_by(AnnotatorRow.name)
    )
    return CampaignInfo(
        name=row.name,
        instructions=row.instructions,
        overlap=row.overlap,
        lease_seconds=row.lease_seconds,
        created_at=row.created_at,
        annotators=tuple(names),
        items=items,
        gold_items=gold or 0,
        labels=int(labels),
        complete_items=complete,
    )
