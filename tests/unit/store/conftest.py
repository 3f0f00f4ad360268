"""Fixtures for the store tests: an open store on each backend, and an engine to look inside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from rlhf.store import Store
from rlhf.store.connect import create_store_engine, normalize_url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store on a fresh database (SQLite, then PostgreSQL)."""
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def store_engine(store_url: str) -> Iterator[Engine]:
    """A second engine on the same database, for looking under the public interface."""
    engine = create_store_engine(normalize_url(store_url))
    yield engine
    engine.dispose()
