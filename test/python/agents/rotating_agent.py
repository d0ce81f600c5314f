"""An agent that keeps working while iron-cage rotates its secrets (test_secret_rotation).

It prints a SHA-256 prefix of API_KEY, never the value. Each tick blocks in a socket recv, so a
SIGUSR1 usually lands during an in-flight call. It stops when its stdin is closed.
"""

import hashlib
import os
import signal
import socket
import sys
import threading

own_handler_calls = []
# The rotation callback prints from the SDK's thread while the loop prints from the main one: each
# line is written whole under one lock, or print's separate writes interleave ("rotatedtick 4 …").
said = threading.Lock()


def say(*parts):
    with said:
        print(*parts, flush=True)


# The agent's own SIGUSR1 handler, installed before the SDK's: the SDK must keep calling it.
signal.signal(signal.SIGUSR1, lambda signum, frame: own_handler_calls.append(signum))

import iron_cage  # noqa: E402


@iron_cage.on_secrets_rotated
def broken(names):
    raise RuntimeError("this callback always fails")


@iron_cage.on_secrets_rotated
def rebuild(names):
    say("rotated", ",".join(names), threading.current_thread().name)


def digest(name):
    value = os.environ.get(name)
    return hashlib.sha256(value.encode()).hexdigest()[:16] if value is not None else "absent"


stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
say("ready", os.getpid())

tick = 0
while not stop.is_set():
    mine, theirs = socket.socketpair()
    threading.Timer(0.03, theirs.send, args=(b"x",)).start()
    got = mine.recv(1)
    mine.close()
    theirs.close()
    if got != b"x":
        say("in-flight call lost", got)
        sys.exit(3)
    tick += 1
    say("tick", tick, digest("API_KEY"), digest("OLD_ONLY"), len(own_handler_calls))
say("done", tick)
