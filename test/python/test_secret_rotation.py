import hashlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

import iron_cage
from iron_cage import _secrets, _signals

from fake_server import FakeServer, closed_port_url, standalone_env, supervised_env, wait_until

ROOT = Path(__file__).resolve().parents[2]
AGENT = "hl-5ec2e75a"
TOKEN = "tok-rotate-0123456789"
OLD = "sk-old-value-aaaaaaaaaaaa"
NEW = "sk-new-value-bbbbbbbbbbbb"
GONE = "sk-gone-value-cccccccccc"
ADDED = "sk-added-value-dddddddddd"


def sha(value):
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class Fresh(unittest.TestCase):
    """Each test starts with no callbacks, no known secret names and no standalone warning given."""

    def setUp(self):
        _secrets._forget_state()
        self.addCleanup(_secrets._forget_state)
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for name in ("API_KEY", "OLD_ONLY", _secrets.NAMES_VARIABLE):
            os.environ.pop(name, None)

    def supervised(self, server_url):
        self.enterContext(supervised_env(server_url, AGENT, TOKEN))


class AgentProcessTest(unittest.TestCase):
    def test_running_agent_sees_the_new_value_without_restarting(self):
        with FakeServer(token=TOKEN) as server:
            server.secrets = {"API_KEY": NEW}
            env = {k: v for k, v in os.environ.items() if not k.startswith("IRON_CAGE_")}
            env.update(PYTHONPATH=str(ROOT / "src" / "python"), IRON_CAGE_URL=server.url, IRON_CAGE_AGENT_ID=AGENT,
                       IRON_CAGE_TOKEN=TOKEN, API_KEY=OLD, OLD_ONLY=GONE,
                       IRON_CAGE_SECRET_NAMES="API_KEY,OLD_ONLY")
            proc = subprocess.Popen([sys.executable, str(ROOT / "test" / "python" / "agents" / "rotating_agent.py")],
                                    env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            self.addCleanup(lambda: proc.poll() is None and proc.kill())
            lines: "queue.Queue[str]" = queue.Queue()
            seen: list[str] = []
            reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout], daemon=True)
            reader.start()

            def next_matching(prefix):
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        line = lines.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    seen.append(line)
                    if line.startswith(prefix):
                        return line
                raise AssertionError(f"no line starting {prefix!r}; saw {seen[-5:]}")

            pid = int(next_matching("ready").split()[1])
            next_matching(f"tick 3 {sha(OLD)} {sha(GONE)} 0")
            os.kill(pid, signal.SIGUSR1)
            rotated = next_matching("rotated")
            after = next_matching("tick")
            proc.stdin.close()
            done = next_matching("done")
            stderr = proc.stderr.read()
            self.assertEqual(proc.wait(10), 0, stderr)
            reader.join(5)
            proc.stdout.close()
            proc.stderr.close()

        self.assertEqual(pid, proc.pid)
        self.assertEqual(rotated, "rotated API_KEY,OLD_ONLY iron-cage-secrets")
        _, _, new_digest, gone_digest, own_calls = after.split()
        self.assertEqual((new_digest, gone_digest, own_calls), (sha(NEW), "absent", "1"))
        # One loop, never restarted, no tick lost: the numbers run 1..N without a gap.
        ticks = [int(line.split()[1]) for line in seen if line.startswith("tick")]
        self.assertEqual(ticks, list(range(1, ticks[-1] + 1)))
        self.assertEqual(int(done.split()[1]), ticks[-1])
        fetches = [r for r in server.requests if r.path == f"/api/agents/{AGENT}/secrets"]
        self.assertEqual([(r.method, r.headers["authorization"]) for r in fetches], [("GET", f"Bearer {TOKEN}")])
        # The failing callback is reported by name; neither it nor anything else shows a value.
        self.assertIn("on_secrets_rotated callback (broken) failed", stderr)
        for value in (OLD, NEW, GONE, TOKEN):
            self.assertNotIn(value, stderr)
            self.assertNotIn(value, "\n".join(seen))


class ReloadTest(Fresh):
    def test_reload_updates_environ_and_calls_back_with_the_changed_names(self):
        with FakeServer(token=TOKEN) as server:
            self.supervised(server.url)
            os.environ.update(API_KEY=OLD, UNCHANGED="same")
            # Values no file path can hold (the clone may live in /tmp/fresh: a traceback names its files).
            server.secrets = {"API_KEY": NEW, "UNCHANGED": "same", "ADDED": ADDED}
            got, threads = [], []

            @iron_cage.on_secrets_rotated
            def first(names):
                raise ValueError("first callback breaks")

            iron_cage.on_secrets_rotated(lambda names: (got.append(names), threads.append(threading.current_thread())))
            with self.assertLogs("iron_cage", logging.INFO) as logs:
                changed = iron_cage.reload_secrets()
            self.assertEqual(changed, ["ADDED", "API_KEY"])
            self.assertEqual(got, [["ADDED", "API_KEY"]])
            self.assertEqual(threads, [threading.current_thread()])
            self.assertEqual((os.environ["API_KEY"], os.environ["ADDED"]), (NEW, ADDED))
            self.assertTrue(any("callback (first) failed" in line for line in logs.output), logs.output)
            for value in (OLD, NEW, ADDED):
                self.assertNotIn(value, "\n".join(logs.output))

            # Nothing new: no callback, nothing changed.
            self.assertEqual(iron_cage.reload_secrets(), [])
            self.assertEqual(len(got), 1)

    def test_names_injected_at_start_and_later_deleted_are_removed(self):
        with FakeServer(token=TOKEN) as server:
            self.supervised(server.url)
            os.environ.update(API_KEY=OLD, OLD_ONLY=GONE, NOT_A_SECRET="kept")
            os.environ[_secrets.NAMES_VARIABLE] = "API_KEY,OLD_ONLY"
            server.secrets = {"API_KEY": OLD}
            self.assertEqual(iron_cage.reload_secrets(), ["OLD_ONLY"])
            self.assertNotIn("OLD_ONLY", os.environ)
            self.assertEqual(os.environ["NOT_A_SECRET"], "kept")
            # A name learned from a fetch is removed once a later fetch no longer has it.
            server.secrets = {"API_KEY": OLD, "LATER": "x"}
            self.assertEqual(iron_cage.reload_secrets(), ["LATER"])
            server.secrets = {}
            self.assertEqual(iron_cage.reload_secrets(), ["API_KEY", "LATER"])
            self.assertNotIn("API_KEY", os.environ)
            self.assertEqual(os.environ["NOT_A_SECRET"], "kept")

    def test_a_secret_never_replaces_iron_cages_own_variables(self):
        with FakeServer(token=TOKEN) as server:
            self.supervised(server.url)
            server.secrets = {"IRON_CAGE_TOKEN": "stolen", "IRON_CAGE_URL": "http://evil.invalid", "API_KEY": NEW}
            self.assertEqual(iron_cage.reload_secrets(), ["API_KEY"])
            self.assertEqual((os.environ["IRON_CAGE_TOKEN"], os.environ["IRON_CAGE_URL"]), (TOKEN, server.url))

    def assert_failure_keeps_old_values(self, url, expected_fragment):
        self.supervised(url)
        os.environ.update(API_KEY=OLD, OLD_ONLY=GONE)
        os.environ[_secrets.NAMES_VARIABLE] = "API_KEY,OLD_ONLY"
        called = []
        iron_cage.on_secrets_rotated(called.append)
        with self.assertLogs("iron_cage", logging.DEBUG) as logs:
            self.assertEqual(iron_cage.reload_secrets(), [])
        self.assertEqual([r.levelno for r in logs.records], [logging.WARNING], logs.output)
        self.assertIn(expected_fragment, logs.output[0])
        self.assertIn("keeping the current", logs.output[0])
        for value in (OLD, NEW, GONE, TOKEN):
            self.assertNotIn(value, logs.output[0])
        self.assertEqual((os.environ["API_KEY"], os.environ["OLD_ONLY"]), (OLD, GONE))
        self.assertEqual(called, [])

    def test_server_down_keeps_the_old_values_with_one_warning(self):
        self.assert_failure_keeps_old_values(closed_port_url(), "Could not reach Iron Cage")

    def test_locked_vault_keeps_the_old_values_with_one_warning(self):
        with FakeServer(token=TOKEN) as server:
            server.vault_locked = True
            server.secrets = {"API_KEY": NEW}
            self.assert_failure_keeps_old_values(server.url, "vault is locked (423)")

    def test_refused_token_keeps_the_old_values_with_one_warning(self):
        with FakeServer(token="another-token-0123456789") as server:
            server.secrets = {"API_KEY": NEW}
            self.assert_failure_keeps_old_values(server.url, "401 unauthorized")

    def test_an_answer_of_the_wrong_shape_changes_nothing(self):
        with FakeServer(token=TOKEN) as server:
            server.secrets = {"API_KEY": 12345}
            self.assert_failure_keeps_old_values(server.url, "unexpected shape")

    def test_standalone_reload_gives_nothing_with_a_single_warning(self):
        self.enterContext(standalone_env())
        with self.assertLogs("iron_cage", logging.DEBUG) as logs:
            self.assertEqual(iron_cage.reload_secrets(), [])
            self.assertEqual(iron_cage.reload_secrets(), [])
        self.assertEqual([r.levelno for r in logs.records], [logging.WARNING, logging.DEBUG], logs.output)
        self.assertIn("standalone", logs.output[0])


class SignalTest(Fresh):
    def setUp(self):
        super().setUp()
        before = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(signal.signal, signal.SIGUSR1, before)
        self.addCleanup(setattr, _signals, "_previous", None)

    def test_standalone_installs_no_handler(self):
        self.enterContext(standalone_env())
        agents_own = lambda signum, frame: None  # noqa: E731
        signal.signal(signal.SIGUSR1, agents_own)
        self.assertFalse(iron_cage.install_rotation_handler())
        self.assertIs(signal.getsignal(signal.SIGUSR1), agents_own)

    def test_signal_reloads_in_the_background_and_chains_to_the_agents_handler(self):
        with FakeServer(token=TOKEN) as server:
            self.supervised(server.url)
            os.environ["API_KEY"] = OLD
            server.secrets = {"API_KEY": NEW}
            own_calls, got = [], []
            signal.signal(signal.SIGUSR1, lambda signum, frame: own_calls.append(signum))
            # As an agent that installed its handler after importing iron_cage is told to do.
            self.assertTrue(iron_cage.install_rotation_handler())
            self.assertTrue(iron_cage.install_rotation_handler())  # twice: still one chain
            iron_cage.on_secrets_rotated(lambda names: got.append((names, threading.current_thread().name)))

            os.kill(os.getpid(), signal.SIGUSR1)
            wait_until(lambda: got)
            self.assertEqual(got, [(["API_KEY"], "iron-cage-secrets")])
            self.assertEqual(os.environ["API_KEY"], NEW)
            self.assertEqual(own_calls, [signal.SIGUSR1])

            server.secrets = {"API_KEY": "third-value"}
            os.kill(os.getpid(), signal.SIGUSR1)
            wait_until(lambda: len(got) == 2)
            self.assertEqual(own_calls, [signal.SIGUSR1] * 2)

    def test_an_agent_handler_that_chains_back_to_the_sdk_is_called_once(self):
        with FakeServer(token=TOKEN) as server:
            self.supervised(server.url)
            server.secrets = {"API_KEY": NEW}
            self.assertTrue(iron_cage.install_rotation_handler())
            sdk_handler = signal.getsignal(signal.SIGUSR1)
            own_calls, got = [], []

            def agents_own(signum, frame):
                own_calls.append(signum)
                sdk_handler(signum, frame)

            signal.signal(signal.SIGUSR1, agents_own)
            self.assertTrue(iron_cage.install_rotation_handler())
            iron_cage.on_secrets_rotated(got.append)
            os.kill(os.getpid(), signal.SIGUSR1)
            wait_until(lambda: got)
            self.assertEqual(own_calls, [signal.SIGUSR1])
            self.assertEqual(got, [["API_KEY"]])

    def test_outside_the_main_thread_it_warns_and_installs_nothing(self):
        with FakeServer(token=TOKEN) as server:
            self.supervised(server.url)
            before = signal.getsignal(signal.SIGUSR1)
            results = []
            with self.assertLogs("iron_cage", logging.WARNING) as logs:
                worker = threading.Thread(target=lambda: results.append(iron_cage.install_rotation_handler()))
                worker.start()
                worker.join()
            self.assertEqual(results, [False])
            self.assertIn("install_rotation_handler() from the main thread", logs.output[0])
            self.assertIs(signal.getsignal(signal.SIGUSR1), before)


if __name__ == "__main__":
    unittest.main()
