"""Test without a server: MockRuntime, assertion helpers and test data.

Works with plain unittest (``IronCageTestCase``) and with pytest
(``pytest_plugins = ["iron_cage.testing.pytest_plugin"]``).
"""

from .case import IronCageTestCase
from .data import PII_SAMPLES, PiiText, anthropic_message, card_number, chat_completion, pii_samples, pii_text
from .mock import PII_TYPES, MockRuntime, replacement_for

__all__ = [
    "IronCageTestCase",
    "MockRuntime",
    "PII_SAMPLES",
    "PII_TYPES",
    "PiiText",
    "anthropic_message",
    "card_number",
    "chat_completion",
    "pii_samples",
    "pii_text",
    "replacement_for",
]
