"""A unittest base class that gives each test a fresh MockRuntime."""

from __future__ import annotations

import unittest
from typing import Any

from .mock import MockRuntime


class IronCageTestCase(unittest.TestCase):
    """``self.runtime`` is a MockRuntime installed for the duration of each test.

    Override ``runtime_options`` to configure it, e.g. ``runtime_options = {"budget": 1.0}``.
    """

    runtime_options: dict[str, Any] = {}

    def setUp(self) -> None:
        super().setUp()
        # enterContext (Python 3.11+) by hand: the SDK runs on 3.9 too.
        runtime = MockRuntime(**self.runtime_options)
        self.runtime = runtime.__enter__()
        self.addCleanup(runtime.__exit__, None, None, None)
