"""Exceptions raised by the Iron Cage SDK.

Every one derives from IronCageError so an agent can catch them all at once; the ones that
are about bad arguments also derive from the matching built-in (TypeError, ValueError) so
code that already handles those keeps working.
"""

from __future__ import annotations


class IronCageError(Exception):
    """Base class of every error the SDK raises."""


class NotSerializableError(IronCageError, TypeError):
    """A checkpoint state that JSON cannot represent."""


class CheckpointTooLargeError(IronCageError, ValueError):
    """A checkpoint state larger than the server accepts."""


class BudgetExceededError(IronCageError):
    """The agent's budget does not cover the requested spend."""

    def __init__(self, limit_usd: float, spent_usd: float, requested_usd: float | None = None):
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.requested_usd = requested_usd
        text = f"budget exceeded: ${spent_usd:.2f} of ${limit_usd:.2f} spent"
        if requested_usd is not None:
            text += f", a further ${requested_usd:.2f} was refused"
        super().__init__(text)


class PiiBlockedError(IronCageError):
    """Output was blocked because it contained personal data.

    The detected value is deliberately not part of the message: error messages end up in
    logs, and repeating the PII there would defeat the block.
    """

    def __init__(self, pii_type: str, message: str | None = None):
        self.pii_type = pii_type
        super().__init__(message or f"blocked: output contained PII ({pii_type})")


class CircuitOpenError(IronCageError):
    """Calls to a failing service are suspended until its circuit breaker closes again."""

    def __init__(self, service: str, retry_after_s: float | None = None):
        self.service = service
        self.retry_after_s = retry_after_s
        text = f"circuit open for {service}"
        if retry_after_s is not None:
            text += f"; retry in {retry_after_s:.1f}s"
        super().__init__(text)


class PolicyDeniedError(IronCageError):
    """A tool call the cage's policy refused: a rule's deny (``policy_denied``), a person's denial
    (``approval_denied``) or nobody deciding in time (``approval_expired``). Nothing was sent."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)
