"""Fixtures shared by every test: where the public data lives, and external servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RLHF_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require_or_skip(env: str, reason: str) -> None:
    """Skip (developer machines) or fail (CI sets `env`=1) when a test resource is missing."""
    if os.environ.get(env) == "1":
        pytest.fail(f"{reason} ({env}=1 requires it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the repository: real public datasets, never copied into the repo."""
    if not SHARED_DATA.is_dir():
        _require_or_skip("RLHF_REQUIRE_SHARED", f"public data not found at {SHARED_DATA}")
    return SHARED_DATA
