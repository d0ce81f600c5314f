"""Argument checks and JSON encoding shared by every runtime.

Remote, local and mock runtimes all go through here, so an agent that passes its unit tests
against MockRuntime sends bodies the server accepts.
"""

from __future__ import annotations

import json
import math
import operator
from typing import Any

from .errors import CheckpointTooLargeError, NotSerializableError

SEVERITIES = ("debug", "info", "warn", "error", "critical")
_SEVERITY_ALIASES = {"warning": "warn", "fatal": "critical"}
MAX_MESSAGE_CHARS = 2000
# The server's limit is "1 MB"; the decimal reading is the stricter one, so anything accepted
# here is accepted there whichever way the server counts.
MAX_CHECKPOINT_BYTES = 1_000_000


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _count(name: str, value: Any) -> int:
    value = _whole_number(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def progress_body(done: Any, total: Any, unit: Any, succeeded: Any = None, failed: Any = None) -> dict:
    """The checked report: outcomes left as None are left out (see carry_outcomes)."""
    done = _count("done", done)
    if total is not None:
        total = _whole_number("total", total)
        if total < 0:
            raise ValueError(f"total must be >= 0 or None, got {total}")
        # An empty work list is a normal case; the server wants total >= 1, so "0 of 0" is
        # sent as an unknown total rather than crashing the agent.
        if total == 0:
            total = None
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError("unit must be a non-empty string")
    body: dict = {"done": done, "total": total, "unit": unit}
    outcomes = {name: _count(name, value) for name, value in (("succeeded", succeeded), ("failed", failed)) if value is not None}
    if sum(outcomes.values()) > done:
        # The server refuses it too: outcomes are of the units done.
        raise ValueError(f"succeeded + failed must not exceed done ({done}), got {outcomes}")
    body.update(outcomes)
    return body


def carry_outcomes(previous: dict | None, body: dict) -> dict:
    """The report as the server shows it: outcomes left out keep their last reported value.

    Runtimes send this whole snapshot rather than the bare report, so a report that replaces an
    unsent one (progress is coalesced) cannot lose the outcomes that one carried.
    """
    merged = {**{k: v for k, v in (previous or {}).items() if k in ("succeeded", "failed")}, **body}
    if merged.get("succeeded", 0) + merged.get("failed", 0) > merged["done"]:
        raise ValueError(
            f"succeeded + failed must not exceed done ({merged['done']}); the last reported outcomes are "
            f"succeeded={merged.get('succeeded')}, failed={merged.get('failed')}"
        )
    return merged


def normalize_severity(severity: Any) -> str:
    text = str(severity).strip().lower()
    text = _SEVERITY_ALIASES.get(text, text)
    if text not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}; got {severity!r}")
    return text


def _json_safe(value: Any) -> Any:
    """Telemetry should never be lost over one odd value, so anything JSON cannot hold becomes text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    return str(value)


def event_body(message: Any, severity: Any, data: dict) -> dict:
    text = message if isinstance(message, str) else str(message)
    if not text.strip():
        raise ValueError("event message must not be empty")
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "\u2026"
    return {"message": text, "severity": normalize_severity(severity), "data": _json_safe(data)}


def encode_state(obj: Any) -> str:
    """Serialize a checkpoint state, refusing what JSON (and so the server) cannot hold."""
    try:
        text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise NotSerializableError(
            f"checkpoint state must be JSON-serializable (dict, list, str, int, float, bool, None): {exc}"
        ) from None
    size = len(text.encode("utf-8"))
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointTooLargeError(
            f"checkpoint state is {size} bytes serialized; the limit is {MAX_CHECKPOINT_BYTES}"
        )
    return text


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
