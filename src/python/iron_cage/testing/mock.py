"""MockRuntime: an in-memory, deterministic Iron Cage runtime for agent unit tests."""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

from .. import _registry, _secrets
from .._memory import MemoryRuntime, to_micros
from .._payloads import encode_state, normalize_severity
from ..errors import BudgetExceededError, PiiBlockedError

_NOTHING = object()
PII_MODES = ("redact", "block", "warn")

# The engine's PII types and labels (src/domain/pii/types.ts: PII_TYPES, replacementFor); a test
# compares the two, so a type added there and not here fails the suite.
PII_TYPES = ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "API_KEY")


def replacement_for(pii_type: str) -> str:
    """The text the engine puts where it redacted a value of this type, e.g. ``[EMAIL_REDACTED]``."""
    kind = pii_type.upper()
    if kind not in PII_TYPES:
        raise ValueError(f"unknown PII type {pii_type!r}; the engine detects {', '.join(PII_TYPES)}")
    return f"[{kind}_REDACTED]"


class MockRuntime(MemoryRuntime):
    """Records everything the agent reports; no server, no threads, no clock.

    Used as a context manager it becomes the current runtime, so module-level calls
    (``iron_cage.report_progress``...), ``AgentRuntime`` and ``@protect_agent`` all go to it::

        with MockRuntime(budget=1.0) as mock:
            my_agent()
        mock.assert_progress(10, 10)

    ``checkpoint=`` seeds the state restore() returns, as if an earlier run had saved it.
    Spend and PII detections are fed in by the test (simulate_spend, simulate_pii); they
    behave as the server would: spend past the budget is refused with BudgetExceededError,
    and PII is redacted, blocked (PiiBlockedError) or only reported, per pii_mode.
    """

    def __init__(
        self,
        *,
        budget: float | None = None,
        agent_id: str = "mock-00000000",
        name: str | None = None,
        restarts: int = 0,
        checkpoint: Any = _NOTHING,
        pii_mode: str = "redact",
    ) -> None:
        if pii_mode not in PII_MODES:
            raise ValueError(f"pii_mode must be one of {', '.join(PII_MODES)}")
        super().__init__(agent_id=agent_id, name=name, budget=budget, restarts=restarts)
        self.pii_mode = pii_mode
        self.checkpoints: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        self.spends: list[float] = []
        self.budget_refusals: list[dict] = []
        self.pii_detections: list[dict] = []
        self.secret_rotations: list[list[str]] = []
        if checkpoint is not _NOTHING:
            self._checkpoint_json = encode_state(checkpoint)
        self._saved_environ: dict[str, str | None] = {}
        self._saved_callbacks: list | None = None

    def __enter__(self) -> "MockRuntime":
        self._saved_callbacks = _secrets.callbacks()
        _registry.push(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        _registry.pop(self)
        # What a test rotated or registered must not leak into the next test.
        with _secrets._env_lock:
            for name, value in self._saved_environ.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self._saved_environ.clear()
        if self._saved_callbacks is not None:
            _secrets.restore_callbacks(self._saved_callbacks)
            self._saved_callbacks = None
        return False

    def rotate_secrets(self, secrets: Mapping[str, str | None]) -> list[str]:
        """Rotate secrets as iron-cage would: update os.environ (None removes a name), then run the
        on_secrets_rotated callbacks on this thread with the sorted changed names, which are returned.

        Inside a ``with`` block the variables are put back when it ends.
        """
        updates: dict[str, str] = {}
        for name, value in secrets.items():
            if not isinstance(name, str) or not (value is None or isinstance(value, str)):
                # Only the name: the value may be a real secret pasted into a test.
                raise TypeError(f"rotate_secrets takes names mapped to str or None; check {name!r}")
            if value is not None:
                updates[name] = value
        with _secrets._env_lock:
            for name in secrets:
                self._saved_environ.setdefault(name, os.environ.get(name))
            changed = _secrets.apply(updates, [n for n, v in secrets.items() if v is None])
        with self._lock:
            if changed:
                self.secret_rotations.append(changed)
                self.calls.append(("secrets_rotated", list(changed)))
        _secrets.notify(changed)
        return changed

    def reload_secrets(self) -> list[str]:
        """What ``iron_cage.reload_secrets()`` gets inside the mock: nothing new (use rotate_secrets)."""
        return []

    def _on_progress(self, body: dict) -> None:
        self.calls.append(("progress", dict(body)))

    def _on_event(self, body: dict) -> None:
        self.calls.append(("event", json.loads(json.dumps(body))))

    def _on_checkpoint(self, encoded: str) -> None:
        self.checkpoints.append(json.loads(encoded))
        self.calls.append(("checkpoint", json.loads(encoded)))

    def status(self) -> dict:
        # A fixed pid keeps snapshots of status() identical from run to run.
        return {**super().status(), "pid": None}

    def simulate_spend(self, usd: float, *, model: str | None = None) -> float | None:
        """Spend usd as an LLM call would; return what is left of the budget (None if unlimited)."""
        amount = to_micros(usd, "spend")
        with self._lock:
            limit = self._budget_micros
            if limit is not None and self._spent_micros + amount > limit:
                refusal = {"requestedUsd": amount / 1e6, "spentUsd": self.spent_usd, "limitUsd": self.budget, "model": model}
                self.budget_refusals.append(refusal)
                self.event("Budget exceeded; request refused", "critical", **refusal)
                raise BudgetExceededError(self.budget, self.spent_usd, amount / 1e6)  # type: ignore[arg-type]
            self._spent_micros += amount
            self.spends.append(amount / 1e6)
            self.calls.append(("spend", {"usd": amount / 1e6, "model": model}))
            return None if limit is None else (limit - self._spent_micros) / 1e6

    def simulate_pii(self, pii_type: str, value: str, *, where: str = "output") -> str:
        """Report PII found in the agent's traffic; return the text the agent would get back."""
        label = replacement_for(pii_type)
        with self._lock:
            self.pii_detections.append({"type": pii_type, "value": value, "where": where})
            # Like the server, the event names the kind of PII but never repeats the value.
            self.event(f"PII detected in {where}: {pii_type}", "warn", piiType=pii_type, action=self.pii_mode)
        if self.pii_mode == "block":
            raise PiiBlockedError(pii_type)
        if self.pii_mode == "redact":
            return label
        return value

    def assert_progress(
        self,
        done: int,
        total: int | None = None,
        unit: str | None = None,
        succeeded: int | None = None,
        failed: int | None = None,
    ) -> None:
        """The latest progress is `done` (and `total`/`unit`/`succeeded`/`failed`, when given)."""
        last = self.progress
        ok = last is not None and last["done"] == done
        ok = ok and (total is None or last["total"] == total) and (unit is None or last["unit"] == unit)
        ok = ok and all(want is None or last.get(key) == want for key, want in (("succeeded", succeeded), ("failed", failed)))
        if not ok:
            want = f"done={done}" + (f", total={total}" if total is not None else "") + (f", unit={unit!r}" if unit else "")
            want += "".join(f", {key}={value}" for key, value in (("succeeded", succeeded), ("failed", failed)) if value is not None)
            raise AssertionError(f"expected latest progress {want}; reports were {self.progress_reports}")

    def _find_events(self, substring: str, severity: str | None, data: dict) -> list[dict]:
        wanted = None if severity is None else normalize_severity(severity)
        return [
            e
            for e in self.events
            if substring in e["message"]
            and (wanted is None or e["severity"] == wanted)
            and all(k in e["data"] and e["data"][k] == v for k, v in data.items())
        ]

    def assert_event(self, message_substring: str, severity: str | None = None, **data: Any) -> dict:
        """Some event's message contains the substring (with that severity and data, when given); returns it."""
        found = self._find_events(message_substring, severity, data)
        if not found:
            raise AssertionError(
                f"no event containing {message_substring!r}"
                + (f" with severity {severity!r}" if severity else "")
                + (f" and data {data}" if data else "")
                + f"; events were {[(e['severity'], e['message']) for e in self.events]}"
            )
        return found[-1]

    def assert_no_event(self, message_substring: str, severity: str | None = None) -> None:
        found = self._find_events(message_substring, severity, {})
        if found:
            raise AssertionError(f"unexpected event(s): {[(e['severity'], e['message']) for e in found]}")

    def assert_checkpoint(self, state: Any) -> None:
        """The latest checkpoint saved in this run equals state (compared as JSON would return it)."""
        expected = json.loads(encode_state(state))
        if not self.checkpoints or self.checkpoints[-1] != expected:
            latest = self.checkpoints[-1] if self.checkpoints else "no checkpoint"
            raise AssertionError(f"expected latest checkpoint {expected!r}, got {latest!r}")

    def assert_secrets_rotated(self, names: Iterable[str]) -> None:
        """Some rotation changed exactly these names (the list the callbacks were given)."""
        wanted = sorted(set(names))
        if wanted not in self.secret_rotations:
            raise AssertionError(f"no rotation changed exactly {wanted}; rotations were {self.secret_rotations}")

    def assert_budget_exceeded(self) -> dict:
        """Some simulated spend was refused for lack of budget; returns the last refusal."""
        if not self.budget_refusals:
            raise AssertionError(
                f"budget was not exceeded: spent ${self.spent_usd:.6f} of "
                + ("an unlimited budget" if self.budget is None else f"${self.budget:.2f}")
            )
        return self.budget_refusals[-1]

    def assert_budget_not_exceeded(self) -> None:
        if self.budget_refusals:
            raise AssertionError(f"budget was exceeded: {self.budget_refusals}")

    def assert_pii_detected(self, pii_type: str | None = None, value: str | None = None) -> dict:
        """PII was detected (of that type / with that value, when given); returns the last match."""
        found = [
            d
            for d in self.pii_detections
            if (pii_type is None or d["type"] == pii_type) and (value is None or d["value"] == value)
        ]
        if not found:
            raise AssertionError(
                f"no PII detected matching type={pii_type!r} value={value!r}; "
                f"detections were {[d['type'] for d in self.pii_detections]}"
            )
        return found[-1]

    def assert_no_pii_detected(self) -> None:
        if self.pii_detections:
            raise AssertionError(f"PII was detected: {[d['type'] for d in self.pii_detections]}")
