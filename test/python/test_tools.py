"""iron_cage.tools against a stand-in for the iron-cage tool proxy (its wire contract)."""

import json
import os
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import iron_cage
from iron_cage import tools
from iron_cage.tools import ToolConnectionError, ToolError, ToolsClient

from fake_server import closed_port_url

TOKEN = "tok-SECRET-0123456789abcdef"


class FakeProxy:
    """Answers /tools/<service>/... with whatever `answer` says; records requests and connections."""

    def __init__(self):
        self.requests = []
        self.connections = 0
        self.answer = lambda method, path, body: (200, {"x-iron-cage-tier": "live", "content-type": "application/json"}, {"ok": True})
        self.close_after_each = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                proxy.connections += 1

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, payload = proxy.answer(self.command, self.path, body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(raw)
                # Hangs up without saying so, like a server whose keep-alive timer ran out.
                if proxy.close_after_each:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def error(status, code, message, **headers):
    return status, {"content-type": "application/json", **headers}, {"error": {"code": code, "message": message}}


class ToolsWireTest(unittest.TestCase):
    def setUp(self):
        self.proxy = self.enterContext(FakeProxy())
        self.client = ToolsClient(self.proxy.url, TOKEN, timeout=5)
        self.addCleanup(self.client.close)

    def test_get_builds_the_proxy_path_query_and_auth(self):
        r = self.client.get("linkedin", "/people/search", params={"company": "Acme & Co", "tag": ["a", "b"]})
        method, path, headers, body = self.proxy.requests[0]
        self.assertEqual(method, "GET")
        self.assertEqual(path, "/tools/linkedin/people/search?company=Acme+%26+Co&tag=a&tag=b")
        self.assertEqual(headers["authorization"], f"Bearer {TOKEN}")
        self.assertTrue(headers["user-agent"].startswith("iron-cage-python/"))
        self.assertEqual(body, b"")
        self.assertEqual((r.status, r.ok, r.tier, r.breaker_open, r.from_fallback), (200, True, "live", False, False))
        self.assertEqual(r.json(), {"ok": True})
        self.assertIs(r.raise_for_status(), r)

    def test_paths_are_quoted_and_queries_merged(self):
        self.client.get("crm", "people/Zoë Smith?x=1", params={"y": 2})
        self.client.get("crm")
        self.assertEqual(self.proxy.requests[0][1], "/tools/crm/people/Zo%C3%AB%20Smith?x=1&y=2")
        self.assertEqual(self.proxy.requests[1][1], "/tools/crm/")

    def test_post_sends_json_and_forms(self):
        self.client.post("linkedin", "/search", json={"q": "acme", "n": 2})
        self.client.put("linkedin", "/form", data={"a": "1"})
        _, _, headers, body = self.proxy.requests[0]
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"q": "acme", "n": 2})
        _, _, headers, body = self.proxy.requests[1]
        self.assertEqual((headers["content-type"], body), ("application/x-www-form-urlencoded", b"a=1"))

    def test_a_cached_answer_while_the_circuit_is_open(self):
        self.proxy.answer = lambda *a: (
            200,
            {"content-type": "application/json", "x-iron-cage-tier": "cache", "x-iron-cage-breaker": "open",
             "x-iron-cage-fallback-reason": "circuit_open", "x-iron-cage-cached-at": "2024-01-01T00:00:00.000Z", "retry-after": "42"},
            {"name": "Jane"},
        )
        r = self.client.get("linkedin", "/people/1")
        self.assertEqual((r.tier, r.breaker, r.breaker_open, r.from_fallback), ("cache", "open", True, True))
        self.assertEqual((r.fallback_reason, r.cached_at, r.retry_after), ("circuit_open", "2024-01-01T00:00:00.000Z", 42.0))
        self.assertEqual(r.json(), {"name": "Jane"})
        self.assertIn("tier=cache breaker=open", repr(r))

    def test_raise_for_status_maps_the_proxy_errors(self):
        self.proxy.answer = lambda *a: error(503, "circuit_open", "the circuit for linkedin is open", **{
            "x-iron-cage-tier": "failed", "x-iron-cage-breaker": "open", "retry-after": "42"})
        r = self.client.get("linkedin", "/people/1")
        self.assertEqual((r.status, r.ok, r.tier, r.breaker_open), (503, False, "failed", True))
        with self.assertRaises(iron_cage.CircuitOpenError) as caught:
            r.raise_for_status()
        self.assertEqual((caught.exception.service, caught.exception.retry_after_s), ("linkedin", 42.0))

        self.proxy.answer = lambda *a: error(403, "pii_blocked", "the crm response contained personal data (EMAIL)", **{
            "x-iron-cage-tier": "live", "x-iron-cage-pii": "EMAIL"})
        with self.assertRaises(iron_cage.PiiBlockedError) as blocked:
            self.client.get("crm", "/p").raise_for_status()
        self.assertEqual(blocked.exception.pii_type, "EMAIL")

        self.proxy.answer = lambda *a: error(504, "upstream_timeout", "slow did not answer within 200 ms", **{"x-iron-cage-tier": "failed"})
        with self.assertRaises(ToolError) as timeout:
            self.client.get("slow", "/r").raise_for_status()
        self.assertEqual((timeout.exception.status, timeout.exception.code), (504, "upstream_timeout"))
        self.assertIsInstance(timeout.exception, iron_cage.IronCageError)

        # An upstream's own 404 is the service's answer, passed through: no iron-cage error body.
        self.proxy.answer = lambda *a: (404, {"content-type": "text/plain", "x-iron-cage-tier": "live"}, b"no such person")
        r = self.client.get("linkedin", "/people/x")
        self.assertIsNone(r.error)
        self.assertEqual((r.text, r.tier), ("no such person", "live"))
        with self.assertRaises(ToolError) as missing:
            r.raise_for_status()
        self.assertEqual(missing.exception.code, "http_404")

    def test_connections_are_kept_alive_and_a_closed_one_is_replaced(self):
        for _ in range(5):
            self.client.get("linkedin", "/p")
        self.assertEqual(self.proxy.connections, 1)
        self.proxy.close_after_each = True
        for _ in range(3):
            self.assertEqual(self.client.get("linkedin", "/p").status, 200)
        self.assertEqual(len(self.proxy.requests), 8)
        self.assertEqual(self.proxy.connections, 3)
        # Idle long enough for the server's close to arrive: a POST is never sent into a dead socket.
        time.sleep(0.1)
        self.assertEqual(self.client.post("linkedin", "/p", json={"a": 1}).status, 200)
        self.assertEqual(self.proxy.connections, 4)

    def test_refuses_what_it_cannot_send(self):
        with self.assertRaises(ValueError):
            self.client.get("bad name", "/p")
        with self.assertRaises(ValueError):
            self.client.get("linkedin", "/p", headers={"Authorization": "Bearer other"})
        with self.assertRaises(ValueError):
            self.client.post("linkedin", "/p", json={}, data=b"x")
        self.assertEqual(self.proxy.requests, [])
        self.assertNotIn(TOKEN, repr(self.client))

    def test_a_server_that_is_down_raises_a_connection_error(self):
        client = ToolsClient(closed_port_url(), TOKEN, timeout=2)
        with self.assertRaises(ToolConnectionError) as caught:
            client.get("linkedin", "/p")
        self.assertNotIn(TOKEN, str(caught.exception))


class ModuleLevelTest(unittest.TestCase):
    def tearDown(self):
        tools._reset()

    def test_uses_the_environment_iron_cage_sets(self):
        with FakeProxy() as proxy, mock.patch.dict(os.environ, {"IRON_CAGE_URL": proxy.url, "IRON_CAGE_TOKEN": TOKEN}):
            tools._reset()
            r = tools.get("linkedin", "/people", params={"q": "x"})
            self.assertEqual(r.tier, "live")
            tools.post("linkedin", "/people", json={"a": 1})
            self.assertEqual([(m, p) for m, p, _, _ in proxy.requests], [("GET", "/tools/linkedin/people?q=x"), ("POST", "/tools/linkedin/people")])
            self.assertIs(tools.client(), tools.client())

    def test_standalone_explains_that_iron_cage_is_needed(self):
        with mock.patch.dict(os.environ):
            os.environ.pop("IRON_CAGE_URL", None)
            tools._reset()
            with self.assertRaises(ToolError) as caught:
                tools.get("linkedin", "/people")
        self.assertEqual(caught.exception.code, "not_supervised")
        self.assertIn("iron-cage start", str(caught.exception))


if __name__ == "__main__":
    unittest.main()


class RequestApprovalTest(unittest.TestCase):
    """tools.request_approval against the approvals routes' contract (POST /api/approvals, the long poll)."""

    def setUp(self):
        self.proxy = self.enterContext(FakeProxy())
        self.client = ToolsClient(self.proxy.url, TOKEN, timeout=5)
        self.addCleanup(self.client.close)

    def test_no_rule_holds_the_call(self):
        self.proxy.answer = lambda m, p, b: (200, {"content-type": "application/json"}, {"decision": "allow", "rule": None, "approval": None})
        a = self.client.request_approval("crm", "/contacts/1", method="get", params={"q": "x"})
        self.assertEqual((a.status, a.approved, a.needed), ("not_needed", True, False))
        method, path, _headers, body = self.proxy.requests[0]
        self.assertEqual((method, path), ("POST", "/api/approvals"))
        self.assertEqual(json.loads(body), {"service": "crm", "tool": "/contacts/1", "method": "GET", "args": {"q": "x"}})

    def test_waits_for_the_decision_with_the_long_poll(self):
        view = {"id": "apr_1", "status": "pending", "rule": "writes", "decidedBy": None, "reason": None}
        polls = []

        def answer(method, path, body):
            if method == "POST":
                return 201, {"content-type": "application/json"}, {"decision": "approve", "rule": "writes", "approval": view}
            polls.append(path)
            done = len(polls) >= 2
            return 200, {"content-type": "application/json"}, {**view, "status": "approved" if done else "pending", "decidedBy": "admin ops" if done else None}

        self.proxy.answer = answer
        a = self.client.request_approval("crm", "/deals", json={"amount": 5000}, params={"amount": 1, "src": "x"}, note="why")
        self.assertEqual((a.status, a.approved, a.needed, a.decided_by, a.rule), ("approved", True, True, "admin ops", "writes"))
        self.assertEqual(polls, ["/api/approvals/apr_1?wait=25", "/api/approvals/apr_1?wait=25"])
        # The body's fields win over the query's parameters, as the cage reads a call.
        self.assertEqual(json.loads(self.proxy.requests[0][3]), {"service": "crm", "tool": "/deals", "method": "POST", "args": {"amount": 5000, "src": "x"}, "note": "why"})

    def test_an_mcp_tool_and_no_waiting(self):
        self.proxy.answer = lambda m, p, b: (201, {"content-type": "application/json"}, {"decision": "approve", "approval": {"id": "apr_2", "status": "pending"}})
        a = self.client.request_approval("github", mcp_tool="merge_pull_request", arguments={"pr": 7}, wait=False)
        self.assertEqual((a.id, a.status, a.approved), ("apr_2", "pending", False))
        self.assertEqual(json.loads(self.proxy.requests[0][3]), {"service": "github", "mcp": True, "tool": "merge_pull_request", "args": {"pr": 7}})

    def test_a_rule_that_refuses_raises_policy_denied(self):
        self.proxy.answer = lambda m, p, b: error(403, "policy_denied", "crm DELETE /x would be refused by policy rule no-deletes")
        with self.assertRaises(iron_cage.PolicyDeniedError) as denied:
            self.client.request_approval("crm", "/x", method="DELETE")
        self.assertEqual(denied.exception.code, "policy_denied")
        self.assertIn("no-deletes", str(denied.exception))

    def test_a_refused_call_raises_policy_denied_from_raise_for_status(self):
        self.proxy.answer = lambda m, p, b: error(403, "approval_denied", "crm POST /deals was denied by admin ops")
        with self.assertRaises(iron_cage.PolicyDeniedError) as denied:
            self.client.post("crm", "/deals", json={}).raise_for_status()
        self.assertEqual(denied.exception.code, "approval_denied")
        self.assertIsInstance(denied.exception, iron_cage.IronCageError)
