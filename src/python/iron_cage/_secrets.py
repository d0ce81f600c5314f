"""Secrets rotated while the agent runs: fetch them, update os.environ, tell the agent's code.

iron-cage injects the secrets of the agent's environment as variables at start and sends SIGUSR1
when one of them is created, rotated or deleted (see _signals). Values never appear in a log
line or an exception raised here: only names, statuses and error codes do.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from typing import Any, Callable, Iterable, Mapping

from ._settings import Settings
from ._transport import ApiError, Transport, TransportError

logger = logging.getLogger("iron_cage")

Callback = Callable[[list], Any]

# The supervisor may list the names it injected at start (names only), so a secret deleted
# before the first reload is removed too; without it the first reload sets the baseline.
NAMES_VARIABLE = "IRON_CAGE_SECRET_NAMES"

# Serializes whole reloads (fetch + apply), so two rotations never interleave their updates.
_reload_lock = threading.Lock()
# Guards os.environ updates and the bookkeeping below.
_env_lock = threading.RLock()
_callbacks: list[Callback] = []
_known: set[str] | None = None
_standalone_warned = False


def on_secrets_rotated(fn: Callback) -> Callback:
    """Call fn(changed_names) after secrets were rotated; usable as a decorator.

    fn gets the sorted list of variable names whose value changed, appeared or disappeared,
    and runs on the SDK's rotation thread (or the caller's, for reload_secrets()), so it should
    only rebuild what reads those variables. An exception in fn is logged; the others still run.
    """
    if not callable(fn):
        raise TypeError("on_secrets_rotated needs a callable taking the list of changed names")
    with _env_lock:
        _callbacks.append(fn)
    return fn


def remove_secrets_callback(fn: Callback) -> bool:
    """Stop calling fn on rotation; False if it was not registered."""
    with _env_lock:
        try:
            _callbacks.remove(fn)
        except ValueError:
            return False
    return True


def callbacks() -> list[Callback]:
    with _env_lock:
        return list(_callbacks)


def restore_callbacks(saved: list[Callback]) -> None:
    with _env_lock:
        _callbacks[:] = saved


def _reserved(name: str) -> bool:
    # The supervisor's own variables (the agent's token among them) are never a secret's to change.
    return name.startswith("IRON_CAGE_")


def apply(updates: Mapping[str, str], removals: Iterable[str] = ()) -> list[str]:
    """Set and remove environment variables under the lock; return the sorted names that changed."""
    changed: set[str] = set()
    with _env_lock:
        for name, value in updates.items():
            if _reserved(name):
                continue
            if os.environ.get(name) != value:
                os.environ[name] = value
                changed.add(name)
        for name in removals:
            if name in updates or _reserved(name):
                continue
            if name in os.environ:
                del os.environ[name]
                changed.add(name)
    return sorted(changed)


def notify(changed: list[str]) -> None:
    """Run every callback with the changed names; one failing does not stop the others."""
    if not changed:
        return
    for fn in callbacks():
        try:
            fn(list(changed))
        except Exception:
            logger.exception("An on_secrets_rotated callback (%s) failed", getattr(fn, "__name__", type(fn).__name__))


def _baseline() -> set[str]:
    global _known
    if _known is None:
        listed = os.environ.get(NAMES_VARIABLE) or ""
        _known = {name.strip() for name in listed.split(",") if name.strip()}
    return _known


def _fetch(settings: Settings, timeout: float) -> dict[str, str] | None:
    """The agent's secrets from the server, or None (after one warning) if it cannot have them."""
    transport = Transport(settings.url, settings.token, timeout)  # type: ignore[arg-type]
    path = "/api/agents/" + urllib.parse.quote(settings.agent_id or "", safe="") + "/secrets"
    try:
        _status, payload = transport.request("GET", path)
    except ApiError as exc:
        if exc.code == "vault_locked":
            logger.warning("Iron Cage's vault is locked (%s); keeping the current secrets", exc.status)
        else:
            logger.warning("Iron Cage refused to hand out the agent's secrets (%s); keeping the current ones", exc)
        return None
    except TransportError as exc:
        logger.warning("Could not reach Iron Cage to reload secrets (%s); keeping the current ones", exc)
        return None
    secrets = payload.get("secrets") if isinstance(payload, dict) else None
    if not isinstance(secrets, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in secrets.items()
    ):
        logger.warning("Iron Cage answered the secrets request with an unexpected shape; keeping the current secrets")
        return None
    return secrets


def reload(timeout: float = 5.0) -> list[str]:
    """Fetch the agent's secrets, update os.environ, run the callbacks; return the changed names."""
    global _known, _standalone_warned
    settings = Settings.from_env()
    if not settings.supervised:
        with _env_lock:
            level = logging.DEBUG if _standalone_warned else logging.WARNING
            _standalone_warned = True
        logger.log(level, "Iron Cage: running standalone, so there are no secrets to reload")
        return []
    with _reload_lock:
        fetched = _fetch(settings, timeout)
        if fetched is None:
            return []
        with _env_lock:
            gone = _baseline() - fetched.keys()
            changed = apply(fetched, gone)
            _known = set(fetched)
    if changed:
        logger.info("Iron Cage secrets rotated: %s", ", ".join(changed))
    notify(changed)
    return changed


def _forget_state() -> None:
    """Back to a fresh process (tests)."""
    global _known, _standalone_warned
    with _env_lock:
        _known = None
        _standalone_warned = False
        _callbacks.clear()
