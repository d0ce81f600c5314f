"""pytest fixtures; enable with ``pytest_plugins = ["iron_cage.testing.pytest_plugin"]`` in conftest.py."""

from __future__ import annotations

import pytest

from .data import pii_samples as _pii_samples
from .mock import MockRuntime


@pytest.fixture
def iron_cage_runtime():
    """A MockRuntime installed as the current runtime for one test."""
    with MockRuntime() as runtime:
        yield runtime


@pytest.fixture
def iron_cage_pii_samples():
    """Every PII sample by type: {"email": [...], "phone": [...], ...}."""
    return _pii_samples()
