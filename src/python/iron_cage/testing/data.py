"""Deterministic test data: PII samples and provider-shaped LLM responses.

Every value is fictional or reserved for documentation (example.com domains, 555-01xx
numbers, TEST-NET addresses, payment-network test cards, never-issued SSNs, documentation
example keys), so tests never carry a real person's data or a live credential.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PII_SAMPLES: dict[str, tuple[str, ...]] = {
    "email": ("jane.doe@example.com", "j.smith+news@example.org", "ops-team@mail.example.net"),
    "phone": ("+1 415-555-0132", "(212) 555-0187", "+44 20 7946 0958"),
    "ssn": ("123-45-6789", "219-09-9999", "078-05-1120"),
    "credit_card": ("4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"),
    "ip_address": ("192.0.2.15", "198.51.100.7", "203.0.113.42"),
    "iban": ("GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00"),
    "api_key": ("AKIAIOSFODNN7EXAMPLE", "sk-proj-EXAMPLE0a1b2c3d4e5f6g7h8i9j0"),
}

_FILLER = (
    "Following up on the conference,",
    "Thanks for stopping by our booth.",
    "Please find the details below.",
    "Let me know if anything changes.",
    "Our team will reach out next week.",
)


def pii_samples(pii_type: str | None = None) -> list[str] | dict[str, list[str]]:
    """All samples of one type, or every type's samples when none is named."""
    if pii_type is None:
        return {kind: list(values) for kind, values in PII_SAMPLES.items()}
    if pii_type not in PII_SAMPLES:
        raise KeyError(f"unknown PII type {pii_type!r}; known: {', '.join(PII_SAMPLES)}")
    return list(PII_SAMPLES[pii_type])


@dataclass(frozen=True)
class PiiText:
    text: str
    items: tuple[tuple[str, str], ...]  # (type, value), in the order they appear


def pii_text(seed: int = 0, count: int = 3, types: tuple[str, ...] | None = None) -> PiiText:
    """A short message with `count` PII values embedded; the same seed always gives the same text."""
    rng = random.Random(seed)
    kinds = list(types or PII_SAMPLES)
    parts: list[str] = []
    items: list[tuple[str, str]] = []
    for _ in range(count):
        kind = rng.choice(kinds)
        value = rng.choice(PII_SAMPLES[kind])
        parts.append(f"{rng.choice(_FILLER)} {kind.replace('_', ' ')}: {value}.")
        items.append((kind, value))
    return PiiText(" ".join(parts), tuple(items))


def card_number(seed: int = 0, prefix: str = "4") -> str:
    """A Luhn-valid 16-digit card number (test data for card detectors)."""
    rng = random.Random(seed)
    digits = [int(c) for c in prefix] + [rng.randrange(10) for _ in range(15 - len(prefix))]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def chat_completion(
    content: str = "Hello from the simulated model.",
    *,
    model: str = "gpt-4o-mini",
    prompt_tokens: int = 12,
    completion_tokens: int = 8,
    ident: str = "chatcmpl-test-0001",
) -> dict:
    """An OpenAI /v1/chat/completions response body."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def anthropic_message(
    text: str = "Hello from the simulated model.",
    *,
    model: str = "claude-3-5-haiku-latest",
    input_tokens: int = 12,
    output_tokens: int = 8,
    ident: str = "msg_test_0001",
) -> dict:
    """An Anthropic /v1/messages response body."""
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
