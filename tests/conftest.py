"""Shared test configuration: the repository root and the executed-book locations."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def html(root) -> Path:
    """The built HTML book, ``_build/html`` (needs `make book`)."""
    folder = root / "_build" / "html"
    assert (folder / "index.html").exists(), "_build/html missing: run `make book` first"
    return folder
