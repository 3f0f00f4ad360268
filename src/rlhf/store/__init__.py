"""The feedback store: prompts, responses with provenance, items, annotators and annotations.

SQLAlchemy 2 on an embedded SQLite file (WAL mode) by default, or PostgreSQL; the schema is
versioned by Alembic migrations applied on open. Everything outside this package uses `Store`.
"""

from rlhf.store.contents import Provenance
from rlhf.store.errors import StoreError
from rlhf.store.importer import ImportReport
from rlhf.store.store import Store

__all__ = ["ImportReport", "Provenance", "Store", "StoreError"]
