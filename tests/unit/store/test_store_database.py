"""Opening databases: URLs, SQLite settings, migrations that match the models, clear errors."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from rlhf.store import Store, StoreError
from rlhf.store.connect import create_store_engine, normalize_url
from rlhf.store.migrate import alembic_config, current_revision, head_revision
from rlhf.store.schema import TABLES, Base


def test_migrated_schema_equals_the_models(store: Store, store_engine: Engine) -> None:
    with store_engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrations_downgrade_and_upgrade_again(store: Store, store_engine: Engine) -> None:
    with store_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        command.upgrade(alembic_config(connection), "head")
        assert set(TABLES) <= set(inspect(connection).get_table_names())


def test_a_newer_schema_is_refused(store_url: str, store_engine: Engine) -> None:
    Store.open(store_url).close()
    with store_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(StoreError, match="revision 9999 is newer than this rlhf knows"):
        Store.open(store_url)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    with Store.open(f"sqlite:///{path}") as store:
        assert store.counts()["items"] == 0
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_connections_enforce_foreign_keys_and_wait_for_locks(tmp_path: Path) -> None:
    engine = create_store_engine(normalize_url(str(tmp_path / "feedback.db")))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "feedback.db"

    with pytest.raises(StoreError, match="does not exist") as caught:
        Store.open(str(path))

    assert str(path.parent) in str(caught.value)
    assert "mkdir -p" in str(caught.value)
    assert not path.parent.exists()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open("postgresql://nobody@127.0.0.1:1/nothing")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("feedback.db", "sqlite:///feedback.db"),
        ("sqlite:///data/feedback.db", "sqlite:///data/feedback.db"),
        ("postgresql://me@db:5432/rlhf", "postgresql+psycopg://me@db:5432/rlhf"),
        ("postgres://me@db/rlhf", "postgresql+psycopg://me@db/rlhf"),
        ("postgresql+psycopg://me@db/rlhf", "postgresql+psycopg://me@db/rlhf"),
    ],
)
def test_urls_are_normalized(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string() == expected


def test_other_databases_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        normalize_url("mysql://me@db/rlhf")


@pytest.mark.postgres
def test_a_driverless_postgresql_url_opens_with_psycopg(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")

    with Store.open(plain) as store:
        assert store.label == postgres_url
        assert store.counts()["annotations"] == 0
