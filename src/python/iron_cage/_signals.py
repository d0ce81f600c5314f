"""SIGUSR1 from iron-cage: reload the secrets without stopping the agent.

A Python signal handler runs in the main thread between two bytecodes of whatever the agent
is doing, so it must not do network I/O nor take a lock the interrupted code might hold: it
writes one byte to a pipe and a daemon thread does the fetching. System calls the signal
interrupts are retried by Python itself (PEP 475), so the agent's in-flight call carries on.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from typing import Any

from . import _secrets
from ._settings import Settings

logger = logging.getLogger("iron_cage")

SIGNAL = getattr(signal, "SIGUSR1", None)

_install_lock = threading.Lock()
_previous: Any = None
_wake_fds: tuple[int, int] | None = None
_thread: threading.Thread | None = None
# Only the main thread runs Python signal handlers, so a plain flag is enough.
_chaining = False


def _handler(signum: int, frame: Any) -> None:
    global _chaining
    fds = _wake_fds
    if fds is not None:
        try:
            os.write(fds[1], b"\x00")
        except OSError:
            # A full pipe already holds a pending wake-up, which is all that is needed.
            pass
    previous = _previous
    # An agent handler that itself chains to this one (installed in between, then
    # install_rotation_handler() again) must not bounce between the two forever.
    if callable(previous) and not _chaining:
        _chaining = True
        try:
            previous(signum, frame)
        finally:
            _chaining = False


def _woken(read_fd: int) -> bool:
    """Block until a signal arrived; False once the pipe is gone."""
    try:
        if not os.read(read_fd, 1):
            return False
        # Several signals in a row need only one fetch.
        while select.select([read_fd], [], [], 0)[0]:
            if not os.read(read_fd, 512):
                return False
    except OSError:
        return False
    return True


def _run(read_fd: int) -> None:
    while _woken(read_fd):
        try:
            _secrets.reload()
        except Exception:
            # The rotation thread must outlive any surprise, or later rotations would be missed.
            logger.exception("Iron Cage secret reload failed")


def _ensure_thread() -> None:
    global _wake_fds, _thread
    if _wake_fds is None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        _wake_fds = (read_fd, write_fd)
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, args=(_wake_fds[0],), name="iron-cage-secrets", daemon=True)
        _thread.start()


def install_rotation_handler() -> bool:
    """Handle iron-cage's SIGUSR1 (secrets rotated) in this process; True if the handler is in place.

    Done on import when the agent runs under iron-cage and imports iron_cage in the main thread.
    Call it again (from the main thread) after installing your own SIGUSR1 handler: that handler
    is kept and called after the SDK's. Standalone (no iron-cage), it installs nothing.
    """
    global _previous
    if SIGNAL is None or not Settings.from_env().supervised:
        return False
    if threading.current_thread() is not threading.main_thread():
        logger.warning(
            "iron_cage was imported outside the main thread, so it cannot handle secret rotation "
            "(SIGUSR1); call iron_cage.install_rotation_handler() from the main thread"
        )
        return False
    with _install_lock:
        current = signal.getsignal(SIGNAL)
        _ensure_thread()
        if current is _handler:
            return True
        # SIG_DFL would end the process and SIG_IGN does nothing: only a function is chained.
        _previous = current if callable(current) else None
        signal.signal(SIGNAL, _handler)
    return True


def _after_fork_in_child() -> None:
    # The pipe is shared with the parent, whose thread would take the child's wake-ups; the
    # child has no rotation thread. iron-cage signals the agent's own process only, and a
    # child can still call reload_secrets().
    global _wake_fds, _thread
    if _wake_fds is not None:
        for fd in _wake_fds:
            try:
                os.close(fd)
            except OSError:
                pass
    _wake_fds = None
    _thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
