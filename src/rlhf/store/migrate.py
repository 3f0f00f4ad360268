"""Schema versions: run the Alembic migrations shipped inside the package, without alembic.ini.

`Store.open` calls `upgrade` on every open, so a database written by an older rlhf is brought to the
current schema before use. The revision files live in `migrations/versions/`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from rlhf.store.errors import StoreError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration for the package's migrations, running on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of rlhf knows."""
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None, "the migrations directory holds no revision"
    return str(head)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for a database without the store's tables."""
    revision = MigrationContext.configure(connection).get_current_revision()
    return None if revision is None else str(revision)


def _known(revision: str) -> bool:
    try:
        ScriptDirectory(str(MIGRATIONS)).get_revision(revision)
    except CommandError:
        return False
    return True


def upgrade(connection: Connection, label: str = "database") -> None:
    """Migrate the database behind `connection` to the newest revision (a no-op when it is there).

    Runs in the connection's transaction: on PostgreSQL and SQLite, DDL is transactional, so a
    failed migration leaves the schema as it was.
    """
    before = current_revision(connection)
    head = head_revision()
    if before == head:
        logger.debug("%s: schema at revision %s", label, head)
        return
    if before is not None and not _known(before):
        raise StoreError(
            f"{label}: schema revision {before} is newer than this rlhf knows (newest {head}); "
            "upgrade rlhf to open it"
        )
    command.upgrade(alembic_config(connection), "head")
    logger.info("%s: schema upgraded from revision %s to %s", label, before or "(empty)", head)
