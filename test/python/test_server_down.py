import logging
import threading
import time
import unittest

import iron_cage
from iron_cage import AgentRuntime
from iron_cage._remote import RemoteRuntime
from iron_cage._settings import Settings

from fake_server import FakeServer, closed_port_url, supervised_env, wait_until

AGENT = "hl-0badc0de"
TOKEN = "tok-down-0123456789"


class ServerDownTest(unittest.TestCase):
    def runtime(self, url, **options):
        options = {"retry_delay": 0.01, "backoff_initial": 60.0, "restore_attempts": 1, **options}
        runtime = RemoteRuntime(Settings(url, AGENT, TOKEN), **options)
        self.addCleanup(runtime.close, 0.2)
        return runtime

    def test_agent_carries_on_with_a_bounded_buffer_and_one_warning(self):
        runtime = self.runtime(closed_port_url(), buffer_size=10)
        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            for index in range(25):
                runtime.event(f"event {index}")
            wait_until(lambda: runtime.sender.is_down)
            for index in range(25, 40):
                runtime.event(f"event {index}")
                runtime.report_progress(index, 40)
            self.assertIsNone(runtime.checkpoint({"next": 40}))
            self.assertEqual(runtime.restore(), {"next": 40})
            self.assertFalse(runtime.flush(1.0))
        self.assertEqual(len(logs.records), 1, logs.output)
        self.assertIn("unreachable", logs.output[0])
        self.assertNotIn(TOKEN, logs.output[0])
        self.assertLessEqual(runtime.sender.pending, 10)
        self.assertGreaterEqual(runtime.sender.dropped, 40 - 10)

        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            runtime.close(0.5)
        self.assertIn("could not be delivered", logs.output[0])

    def test_module_level_api_with_the_server_down(self):
        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            with supervised_env(closed_port_url(), AGENT, TOKEN):
                with AgentRuntime(budget=10) as rt:
                    self.assertTrue(rt.remote)
                    self.assertEqual(rt.restore(default={"next": 1}), {"next": 1})
                    for index in range(1, 6):
                        iron_cage.report_progress(index, 5)
                        iron_cage.event(f"item {index}")
                        iron_cage.checkpoint({"next": index + 1})
                    self.assertEqual(iron_cage.restore(), {"next": 6})
        messages = [r.getMessage() for r in logs.records]
        self.assertEqual(sum("unreachable" in m for m in messages), 1, messages)
        self.assertEqual(sum("Could not fetch the last checkpoint" in m for m in messages), 1, messages)
        self.assertIn("could not be delivered before exit", messages[-1])

    def test_restore_without_a_server_or_local_state_gives_the_default(self):
        runtime = self.runtime(closed_port_url())
        with self.assertLogs("iron_cage", logging.WARNING):
            self.assertEqual(runtime.restore(default=[]), [])

    def test_backoff_then_recovery_delivers_the_buffer_in_order(self):
        with FakeServer(token=TOKEN) as server:
            server.fail_next(4, status=503)
            runtime = self.runtime(server.url, backoff_initial=0.05, backoff_max=0.1)
            with self.assertLogs("iron_cage", logging.INFO) as logs:
                for index in range(5):
                    runtime.event(f"event {index}")
                wait_until(lambda: runtime.sender.pending == 0)
            delivered = [r.json["message"] for r in server.posts("events")]
            self.assertEqual(delivered[4:], [f"event {index}" for index in range(5)])
            self.assertEqual(delivered[:4], ["event 0"] * 4)
            messages = [r.getMessage() for r in logs.records]
            self.assertIn("unreachable", messages[0])
            self.assertIn("reachable again", messages[-1])

    def test_only_the_newest_checkpoint_survives_an_outage(self):
        with FakeServer(token=TOKEN) as server:
            server.fail_next(10_000, status=503)
            runtime = self.runtime(server.url, buffer_size=4, backoff_initial=0.05, backoff_max=0.05)
            with self.assertLogs("iron_cage", logging.WARNING):
                runtime.event("before")
                wait_until(lambda: runtime.sender.is_down)
                self.assertIsNone(runtime.checkpoint({"v": 1}))
                for index in range(10):
                    runtime.event(f"filler {index}")
                self.assertIsNone(runtime.checkpoint({"v": 2}))
                for index in range(10):
                    runtime.event(f"late {index}")
                self.assertLessEqual(runtime.sender.pending, 4)
                server.fail_next(0)
                wait_until(lambda: runtime.sender.pending == 0)
            self.assertEqual(server.checkpoints[AGENT], [{"v": 2}])
            self.assertEqual(server.posts("events")[-1].json["message"], "late 9")

    def test_checkpoint_never_waits_longer_than_its_bound(self):
        with FakeServer(token=TOKEN) as server:
            gate = threading.Event()
            server.delay_event = gate
            runtime = self.runtime(server.url, checkpoint_wait=0.2)
            try:
                with self.assertLogs("iron_cage", logging.WARNING) as logs:
                    self.assertIsNone(runtime.checkpoint({"slow": True}))
                self.assertIn("did not confirm", logs.output[0])
                self.assertEqual(runtime.restore(), {"slow": True})
            finally:
                gate.set()
                server.delay_event = None
            wait_until(lambda: server.checkpoints.get(AGENT) == [{"slow": True}])

    def test_a_burst_faster_than_the_server_drops_the_oldest_with_one_warning(self):
        with FakeServer(token=TOKEN) as server:
            gate = threading.Event()
            server.delay_event = gate
            runtime = self.runtime(server.url, buffer_size=5)
            try:
                runtime.event("first")
                wait_until(lambda: len(server.requests) == 1)
                for index in range(20):
                    runtime.event(f"burst {index}")
                self.assertEqual(runtime.sender.dropped, 15)
            finally:
                server.delay_event = None
                gate.set()
            with self.assertLogs("iron_cage", logging.WARNING) as logs:
                self.assertTrue(runtime.flush(5))
            self.assertEqual(len(logs.records), 1)
            self.assertIn("15 oldest updates dropped", logs.output[0])
            delivered = [r.json["message"] for r in server.posts("events")]
            self.assertEqual(delivered, ["first"] + [f"burst {index}" for index in range(15, 20)])


if __name__ == "__main__":
    unittest.main()
