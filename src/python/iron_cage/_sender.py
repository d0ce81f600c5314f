"""One background thread that delivers telemetry in order and survives a server outage.

Everything the agent sends goes through a single FIFO, so the server sees progress, events
and checkpoints in the order the agent produced them. The agent never waits for the network
except in checkpoint(), which asks for a Waiter and blocks on it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._transport import ApiError, Transport, TransportError

logger = logging.getLogger("iron_cage")

PROGRESS, EVENT, CHECKPOINT = "progress", "event", "checkpoint"


class Waiter:
    """Lets a caller block until the sender has an answer for one item."""

    OK, DEFERRED, REJECTED = "ok", "deferred", "rejected"

    def __init__(self) -> None:
        self._done = threading.Event()
        self.outcome: str | None = None
        self.payload: Any = None

    def resolve(self, outcome: str, payload: Any = None) -> None:
        if not self._done.is_set():
            self.outcome, self.payload = outcome, payload
            self._done.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)


@dataclass(eq=False)
class Item:
    kind: str
    path: str
    body: bytes
    waiter: Waiter | None = None


_live_senders: "weakref.WeakSet[Sender]" = weakref.WeakSet()


def _reset_senders_in_child() -> None:
    for sender in list(_live_senders):
        sender._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_senders_in_child)


class Sender:
    def __init__(
        self,
        transport: Transport,
        *,
        buffer_size: int = 1000,
        failure_threshold: int = 3,
        retry_delay: float = 0.1,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        if buffer_size < 2:
            raise ValueError("buffer_size must be at least 2")
        self._transport = transport
        self._buffer_size = buffer_size
        self._failure_threshold = max(1, failure_threshold)
        self._retry_delay = retry_delay
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max

        self._cond = threading.Condition()
        self._queue: deque[Item] = deque()
        self._inflight: Item | None = None
        self._latest_checkpoint: Item | None = None
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._down = False
        self._backoff = backoff_initial
        self._retry_at = 0.0
        self._dropped = 0
        self._dropped_unreported = 0
        self._closing = False
        self._closed = False
        self._close_deadline = 0.0
        self._gave_up = False
        self._rejections_logged: set[tuple[int, str]] = set()
        self._overflow_logged = False
        _live_senders.add(self)

    @property
    def is_down(self) -> bool:
        return self._down

    @property
    def dropped(self) -> int:
        """Items discarded because the buffer was full, since this sender was created."""
        return self._dropped

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._inflight else 0)

    def submit(self, item: Item) -> None:
        with self._cond:
            if self._closing:
                self._dropped += 1
                if item.waiter:
                    item.waiter.resolve(Waiter.DEFERRED)
                return
            if item.kind == CHECKPOINT:
                # Only the newest checkpoint matters; an older unsent one would just waste a
                # slot and, after an outage, overwrite nothing useful.
                for old in [i for i in self._queue if i.kind == CHECKPOINT]:
                    self._queue.remove(old)
                    if old.waiter:
                        old.waiter.resolve(Waiter.DEFERRED)
                self._latest_checkpoint = item
            elif item.kind == PROGRESS and self._queue and self._queue[-1].kind == PROGRESS:
                # Progress is a snapshot: a newer one at the tail replaces the unsent older one
                # without changing the order of anything else.
                self._queue[-1] = item
                self._cond.notify_all()
                return
            if len(self._queue) >= self._buffer_size:
                self._drop_oldest()
            self._queue.append(item)
            self._ensure_thread()
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued was delivered; give up at once while the server is down."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._queue or self._inflight) and not self._down:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return not self._queue and not self._inflight

    def close(self, timeout: float) -> int:
        """Try to deliver what is left within timeout, stop the thread; return how many items were lost unreported."""
        with self._cond:
            if self._closed:
                return 0
            self._closed = self._closing = True
            self._close_deadline = time.monotonic() + timeout
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout + 0.1)
        with self._cond:
            # Drops from an outage that already ended were reported when it ended.
            return len(self._queue) + (1 if self._inflight else 0) + self._dropped_unreported

    def _drop_oldest(self) -> None:
        for index, old in enumerate(self._queue):
            if old.kind != CHECKPOINT:
                del self._queue[index]
                self._dropped += 1
                self._dropped_unreported += 1
                return

    def _after_fork_in_child(self) -> None:
        # The child must not resend the parent's queue, nor wait on a lock the parent's
        # sender thread held when the fork happened.
        self._cond = threading.Condition()
        self._queue.clear()
        self._inflight = None
        self._latest_checkpoint = None
        self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="iron-cage-sender", daemon=True)
            self._thread.start()

    def _next_item(self) -> Item | None:
        while True:
            now = time.monotonic()
            if self._closing and (self._gave_up or now >= self._close_deadline):
                return None
            if self._queue:
                # At exit one more attempt is worth it even in backoff: the server may be back.
                if self._closing or now >= self._retry_at:
                    return self._queue.popleft()
                self._cond.wait(self._retry_at - now)
            elif self._closing:
                return None
            else:
                self._cond.wait()

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next_item()
                if item is None:
                    return
                self._inflight = item
            try:
                _status, payload = self._transport.request("POST", item.path, item.body)
                result: tuple[str, Any] = ("ok", payload)
            except ApiError as exc:
                result = ("retry", exc) if exc.retryable else ("reject", exc)
            except TransportError as exc:
                result = ("retry", exc)
            except Exception as exc:  # the sender thread must outlive any surprise
                result = ("reject", exc)
            with self._cond:
                self._inflight = None
                getattr(self, "_on_" + result[0])(item, result[1])
                self._cond.notify_all()

    def _mark_up(self) -> None:
        was_down = self._down
        self._down = False
        self._failures = 0
        self._backoff = self._backoff_initial
        self._retry_at = 0.0
        lost, self._dropped_unreported = self._dropped_unreported, 0
        if was_down:
            if lost:
                logger.warning("Iron Cage server reachable again; %d updates were dropped while it was not", lost)
            else:
                logger.info("Iron Cage server reachable again; buffered updates are being sent")
        elif lost:
            # The server is fine, so the agent produces updates faster than it takes them.
            level = logging.DEBUG if self._overflow_logged else logging.WARNING
            self._overflow_logged = True
            logger.log(level, "Iron Cage update buffer was full (%d); %d oldest updates dropped", self._buffer_size, lost)

    def _on_ok(self, item: Item, payload: Any) -> None:
        self._mark_up()
        if item.waiter:
            item.waiter.resolve(Waiter.OK, payload)

    def _on_reject(self, item: Item, exc: Exception) -> None:
        # The server answered, so it is up; the item itself is what it refused.
        self._mark_up()
        key = (getattr(exc, "status", 0), getattr(exc, "code", type(exc).__name__))
        if key not in self._rejections_logged:
            self._rejections_logged.add(key)
            logger.warning("Iron Cage server refused a %s update (%s); it was dropped", item.kind, exc)
        if item.waiter:
            item.waiter.resolve(Waiter.REJECTED, exc)

    def _on_retry(self, item: Item, exc: Exception) -> None:
        self._failures += 1
        stale = item.kind == CHECKPOINT and item is not self._latest_checkpoint
        if stale:
            if item.waiter:
                item.waiter.resolve(Waiter.DEFERRED)
        elif len(self._queue) < self._buffer_size:
            self._queue.appendleft(item)
        elif item.kind == CHECKPOINT:
            self._drop_oldest()
            self._queue.appendleft(item)
        else:
            self._dropped += 1
            self._dropped_unreported += 1
        if self._closing:
            self._gave_up = True
            return
        now = time.monotonic()
        if self._failures < self._failure_threshold:
            self._retry_at = now + self._retry_delay
            return
        if not self._down:
            self._down = True
            logger.warning(
                "Iron Cage server unreachable (%s); the agent carries on, keeping up to %d updates "
                "to send later and checkpoints in memory",
                exc,
                self._buffer_size,
            )
            # Nobody should sit in checkpoint() through a backoff; their state is kept locally.
            for queued in self._queue:
                if queued.waiter:
                    queued.waiter.resolve(Waiter.DEFERRED)
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self._backoff_max)
