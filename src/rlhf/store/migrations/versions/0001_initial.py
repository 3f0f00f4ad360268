"""The initial schema: annotators, prompts, responses, items, assignments, annotations.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out table by table (not `metadata.create_all`), so that this revision stays what it was
when later revisions change the models.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def _fk(column: str, table: str, owner: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{owner}_{column}_{table}")
    return sa.ForeignKeyConstraint([column], [f"{table}.id"], name=name)


def upgrade() -> None:
    op.create_table(
        "annotators",
        _id(),
        sa.Column("name", sa.String(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotators")),
        sa.UniqueConstraint("name", name=op.f("uq_annotators_name")),
    )
    op.create_table(
        "prompts",
        _id(),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("content", JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("external_id", name=op.f("uq_prompts_external_id")),
    )
    op.create_index(op.f("ix_prompts_content_hash"), "prompts", ["content_hash"])
    op.create_table(
        "responses",
        _id(),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("checkpoint", sa.String(), nullable=True),
        sa.Column("sampling", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        _fk("prompt_id", "prompts", "responses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    op.create_index(op.f("ix_responses_prompt_id"), "responses", ["prompt_id"])
    op.create_table(
        "items",
        _id(),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("kind IN ('pair', 'ranking')", name=op.f("ck_items_kind")),
        _fk("prompt_id", "prompts", "items"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("external_id", name=op.f("uq_items_external_id")),
    )
    op.create_index(op.f("ix_items_prompt_id"), "items", ["prompt_id"])
    op.create_table(
        "item_responses",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        _fk("item_id", "items", "item_responses"),
        _fk("response_id", "responses", "item_responses"),
        sa.PrimaryKeyConstraint("item_id", "position", name=op.f("pk_item_responses")),
    )
    op.create_index(op.f("ix_item_responses_response_id"), "item_responses", ["response_id"])
    _create_judgment_tables()


def _create_judgment_tables() -> None:
    op.create_table(
        "assignments",
        _id(),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _timestamp("leased_at"),
        _timestamp("expires_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('leased', 'done', 'skipped')", name=op.f("ck_assignments_status")
        ),
        _fk("annotator_id", "annotators", "assignments"),
        _fk("item_id", "items", "assignments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint(
            "item_id", "annotator_id", name=op.f("uq_assignments_item_id_annotator_id")
        ),
    )
    op.create_index(op.f("ix_assignments_annotator_id"), "assignments", ["annotator_id"])
    op.create_table(
        "annotations",
        _id(),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("judgment", sa.String(16), nullable=True),
        sa.Column("ranks", JSON, nullable=True),
        sa.Column("strength", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("safety_flags", JSON, nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("display_order", JSON, nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        _timestamp("created_at", nullable=True),
        _timestamp("recorded_at"),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.CheckConstraint(
            "judgment IN ('a', 'b', 'tie', 'both_bad')", name=op.f("ck_annotations_judgment")
        ),
        _fk("annotator_id", "annotators", "annotations"),
        _fk("item_id", "items", "annotations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
        sa.UniqueConstraint(
            "item_id", "annotator_id", name=op.f("uq_annotations_item_id_annotator_id")
        ),
    )
    op.create_index(op.f("ix_annotations_annotator_id"), "annotations", ["annotator_id"])


def downgrade() -> None:
    for table in (
        "annotations",
        "assignments",
        "item_responses",
        "items",
        "responses",
        "prompts",
        "annotators",
    ):
        op.drop_table(table)
