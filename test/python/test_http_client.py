import logging
import os
import unittest
from unittest import mock

import iron_cage
from iron_cage import AgentRuntime
from iron_cage._remote import RemoteRuntime
from iron_cage._settings import Settings

from fake_server import FakeServer, closed_port_url, supervised_env

AGENT = "hl-7a3f9c2d"
TOKEN = "tok-SECRET-0123456789abcdef"


class WireFormatTest(unittest.TestCase):
    def setUp(self):
        self.server = self.enterContext(FakeServer(token=TOKEN))
        self.enterContext(supervised_env(self.server.url, AGENT, TOKEN))

    def test_paths_headers_and_bodies(self):
        iron_cage.report_progress(3, 10)
        iron_cage.event("Lead enriched", severity="warn", lead="acme", score=0.5)
        self.assertEqual(iron_cage.checkpoint({"next": 4, "seen": ["a"]}), 1)

        requests = self.server.requests
        self.assertEqual(
            [(r.method, r.path) for r in requests],
            [
                ("POST", f"/api/agents/{AGENT}/progress"),
                ("POST", f"/api/agents/{AGENT}/events"),
                ("POST", f"/api/agents/{AGENT}/checkpoints"),
            ],
        )
        for request in requests:
            self.assertEqual(request.headers["authorization"], f"Bearer {TOKEN}")
            self.assertEqual(request.headers["content-type"], "application/json")
        self.assertEqual(requests[0].json, {"done": 3, "total": 10, "unit": "leads"})
        self.assertEqual(
            requests[1].json,
            {"message": "Lead enriched", "severity": "warn", "data": {"lead": "acme", "score": 0.5}},
        )
        self.assertEqual(requests[2].json, {"state": {"next": 4, "seen": ["a"]}})
        self.assertEqual(self.server.checkpoints[AGENT], [{"next": 4, "seen": ["a"]}])

    def test_the_name_an_agent_gives_itself_is_told_once(self):
        with AgentRuntime(name="researcher") as rt:
            rt.report_progress(1, 2)
        with AgentRuntime(name="researcher") as again:
            again.flush()
        self.assertEqual([(r.path, r.json) for r in self.server.posts("name")], [(f"/api/agents/{AGENT}/name", {"name": "researcher"})])
        # Before the progress it reported inside the block.
        self.assertEqual([r.path.rsplit("/", 1)[1] for r in self.server.posts()], ["name", "progress"])

    def test_checkpoint_comes_after_everything_reported_before_it(self):
        for index in range(1, 6):
            iron_cage.event(f"item {index}")
            iron_cage.report_progress(index, 5)
            iron_cage.checkpoint({"next": index + 1})
        sequence = [r.path.rsplit("/", 1)[1] for r in self.server.posts()]
        self.assertEqual(sequence, ["events", "progress", "checkpoints"] * 5)
        progress = [r.json["done"] for r in self.server.posts("progress")]
        self.assertEqual(progress, [1, 2, 3, 4, 5])

    def test_bursts_of_progress_keep_order_and_the_final_value(self):
        for index in range(1, 201):
            iron_cage.report_progress(index, 200)
        iron_cage.event("burst over")
        iron_cage.checkpoint({"done": True})
        posts = self.server.posts()
        done = [r.json["done"] for r in posts if r.path.endswith("/progress")]
        self.assertEqual(done, sorted(done))
        self.assertEqual(done[-1], 200)
        self.assertEqual([r.path.rsplit("/", 1)[1] for r in posts[-2:]], ["events", "checkpoints"])

    def test_any_python_string_goes_over_the_wire(self):
        iron_cage.event("caf\u00e9 \U0001f600 lone \ud800 surrogate")
        self.assertEqual(iron_cage.checkpoint({"name": "Zo\u00eb \udcff"}), 1)
        self.assertEqual(self.server.posts("events")[0].json["message"], "caf\u00e9 \U0001f600 lone \ud800 surrogate")
        self.assertEqual(self.server.checkpoints[AGENT], [{"name": "Zo\u00eb \udcff"}])

    def test_restore_reads_the_servers_checkpoint(self):
        self.server.checkpoints[AGENT] = [{"next": 1}, {"next": 7}]
        self.assertEqual(iron_cage.restore(default={"next": 1}), {"next": 7})
        get = self.server.requests[-1]
        self.assertEqual((get.method, get.path), ("GET", f"/api/agents/{AGENT}/checkpoint"))
        self.assertEqual(get.headers["authorization"], f"Bearer {TOKEN}")

    def test_restore_with_404_returns_the_default(self):
        with self.assertNoLogs("iron_cage", logging.WARNING):
            self.assertEqual(iron_cage.restore(default={"next": 1}), {"next": 1})
            self.assertIsNone(iron_cage.restore())

    def test_restore_after_checkpoint_in_this_process(self):
        iron_cage.checkpoint({"next": 3})
        self.server.checkpoints[AGENT].append({"next": 99})
        self.assertEqual(iron_cage.restore(), {"next": 3})

    def test_status(self):
        status = iron_cage.status()
        self.assertEqual(status["id"], AGENT)
        self.assertEqual(self.server.requests[-1].path, f"/api/agents/{AGENT}/status")

    def test_agent_runtime_binds_to_the_server(self):
        with self.assertNoLogs("iron_cage", logging.WARNING):
            with AgentRuntime(budget=50.0) as rt:
                self.assertTrue(rt.remote)
                self.assertEqual(rt.agent_id, AGENT)
                self.assertEqual(iron_cage.agent_id(), AGENT)
                rt.report_progress(1, 1)

    def test_an_exception_is_reported_before_it_propagates(self):
        with self.assertRaises(ValueError):
            with AgentRuntime():
                iron_cage.report_progress(1, 2)
                raise ValueError("bad lead")
        # __exit__ flushed: the event is on the server by the time the exception escapes.
        events = [r.json for r in self.server.posts("events")]
        self.assertEqual(events[-1]["severity"], "error")
        self.assertEqual(events[-1]["message"], "ValueError: bad lead")
        self.assertEqual(events[-1]["data"]["exception"], "builtins.ValueError")

    def test_transient_server_errors_are_retried_in_order(self):
        self.server.fail_next(2, status=503)
        iron_cage.event("first")
        iron_cage.event("second")
        self.assertTrue(iron_cage.get_runtime().flush(5))
        delivered = [r.json["message"] for r in self.server.posts("events")]
        self.assertEqual(delivered, ["first", "first", "first", "second"])

    def test_a_refused_update_is_dropped_with_one_warning(self):
        self.server.fail_next(2, status=400)
        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            iron_cage.event("refused 1")
            iron_cage.event("refused 2")
            iron_cage.event("accepted")
            self.assertTrue(iron_cage.get_runtime().flush(5))
        self.assertEqual(len(logs.records), 1)
        self.assertIn("400", logs.output[0])
        self.assertEqual(self.server.posts("events")[-1].json["message"], "accepted")
        self.assertEqual(len(self.server.posts("events")), 3)

    def test_a_refused_checkpoint_does_not_raise_and_stays_restorable(self):
        self.server.fail_next(1, status=413)
        with self.assertLogs("iron_cage", logging.WARNING):
            self.assertIsNone(iron_cage.checkpoint({"big": "state"}))
        self.assertEqual(iron_cage.restore(), {"big": "state"})

    def test_the_token_never_reaches_logs_or_the_server_payloads(self):
        with self.assertLogs("iron_cage", logging.DEBUG) as logs:
            logging.getLogger("iron_cage").debug("start")
            iron_cage.event("environment", env={"IRON_CAGE_TOKEN": TOKEN})
            self.server.fail_next(1, status=401)
            iron_cage.event("will be refused")
            iron_cage.checkpoint({"token": TOKEN})
        for line in logs.output:
            self.assertNotIn(TOKEN, line)
        self.assertNotIn(TOKEN, repr(Settings.from_env()))
        for request in self.server.posts():
            self.assertNotIn(TOKEN.encode(), request.raw)

    def test_proxy_variables_do_not_reroute_the_sdk(self):
        proxy = closed_port_url()
        with mock.patch.dict(os.environ, {"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}):
            runtime = RemoteRuntime(Settings(self.server.url, AGENT, TOKEN))
            try:
                self.assertEqual(runtime.checkpoint({"via": "direct"}), 1)
            finally:
                runtime.close()


class UrlQuotingTest(unittest.TestCase):
    def test_agent_id_is_quoted_into_the_path(self):
        with FakeServer(token=TOKEN) as server:
            runtime = RemoteRuntime(Settings(server.url, "odd id/x", TOKEN))
            try:
                self.assertEqual(runtime.checkpoint({}), 1)
            finally:
                runtime.close()
        self.assertEqual(server.requests[0].path, "/api/agents/odd%20id%2Fx/checkpoints")


if __name__ == "__main__":
    unittest.main()
