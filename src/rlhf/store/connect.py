"""Database URLs and engines: SQLite files (the default) and PostgreSQL servers.

A bare path means a SQLite file. SQLite connections run in WAL mode (readers do not block the
writer), enforce foreign keys, wait up to 5 s for a lock, and take the write lock when a
transaction begins (`BEGIN IMMEDIATE`), so that a read-then-write transaction cannot fail halfway
when another process wrote in between. PostgreSQL URLs use the psycopg 3 driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from rlhf.store.errors import StoreError

SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000")
POSTGRES_DRIVERLESS = ("postgresql", "postgres")


def normalize_url(url: str) -> URL:
    """`url` as a SQLAlchemy URL: a bare path -> `sqlite:///path`; `postgresql://` -> psycopg."""
    if "://" not in url:
        return URL.create("sqlite", database=str(Path(url).expanduser()))
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"not a database URL: {url!r} ({error})") from error
    if parsed.drivername in POSTGRES_DRIVERLESS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r} in {describe(parsed)}: "
            "give a SQLite file path, sqlite:///FILE, or postgresql://USER@HOST:PORT/DB"
        )
    return parsed


def describe(url: URL) -> str:
    """The URL for messages and logs, password hidden."""
    return url.render_as_string(hide_password=True)


def create_store_engine(url: URL) -> Engine:
    """An engine for `url`, with the SQLite settings above; clear errors for fixable problems."""
    if url.get_backend_name() == "sqlite":
        _check_sqlite_directory(url)
    try:
        engine = create_engine(url)
    except ImportError as error:
        raise StoreError(
            f"{describe(url)}: the database driver is not installed ({error}); "
            "for PostgreSQL install rlhf[postgres] (psycopg 3)"
        ) from error
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
    return engine


def _check_sqlite_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    parent = Path(database).expanduser().absolute().parent
    if not parent.is_dir():
        raise StoreError(
            f"cannot create the SQLite database {database}: directory {parent} does not exist; "
            f"create it first (mkdir -p {parent}) or give a path in an existing directory"
        )


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Per connection: let SQLAlchemy, not the driver, begin transactions; then the pragmas."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
