import json
import logging
import os
import sys
import types
import unittest
from unittest.mock import patch

import iron_cage
from iron_cage import BudgetExceededError, IronCageError, NotSerializableError, PiiBlockedError
from iron_cage.errors import CheckpointTooLargeError
from iron_cage.testing import IronCageTestCase, MockRuntime, data


def tiny_agent(items):
    state = iron_cage.restore(default={"next": 0})
    for index in range(state["next"], len(items)):
        iron_cage.event(f"processed {items[index]}", lead=items[index])
        iron_cage.report_progress(index + 1, len(items))
        iron_cage.checkpoint({"next": index + 1})


class RecordingTest(unittest.TestCase):
    def test_module_level_calls_reach_the_installed_mock_and_stop_after(self):
        with MockRuntime() as mock:
            tiny_agent(["a", "b", "c"])
            self.assertIs(iron_cage.get_runtime(), mock)
            self.assertEqual(iron_cage.agent_id(), "mock-00000000")
        self.assertEqual(mock.progress, {"done": 3, "total": 3, "unit": "leads"})
        self.assertEqual(mock.checkpoints, [{"next": 1}, {"next": 2}, {"next": 3}])
        self.assertEqual([e["message"] for e in mock.events], ["processed a", "processed b", "processed c"])
        self.assertEqual(
            [kind for kind, _ in mock.calls],
            ["event", "progress", "checkpoint"] * 3,
        )

    def test_uninstalled_after_the_block(self):
        from iron_cage import _registry

        with MockRuntime() as mock:
            pass
        self.assertNotIn(mock, _registry._stack)

    def test_seeded_checkpoint_resumes_like_a_restart(self):
        with MockRuntime(checkpoint={"next": 2}, restarts=1) as mock:
            tiny_agent(["a", "b", "c"])
        self.assertEqual(mock.checkpoints, [{"next": 3}])
        mock.assert_event("processed c")
        mock.assert_no_event("processed a")
        self.assertEqual(mock.restarts, 1)

    def test_restore_default_and_fresh_copies(self):
        mock = MockRuntime()
        self.assertEqual(mock.restore(default={"x": 1}), {"x": 1})
        mock.checkpoint({"items": [1, 2]})
        first = mock.restore()
        first["items"].append(3)
        self.assertEqual(mock.restore(), {"items": [1, 2]})

    def test_same_agent_same_record(self):
        runs = []
        for _ in range(2):
            with MockRuntime() as mock:
                tiny_agent(["a", "b"])
            runs.append((mock.calls, mock.status()))
        self.assertEqual(runs[0], runs[1])


class ValidationTest(unittest.TestCase):
    def setUp(self):
        self.mock = MockRuntime()

    def test_checkpoint_rejects_what_json_cannot_hold(self):
        for bad in ({"when": object()}, {1, 2}, float("nan"), {"x": float("inf")}):
            with self.assertRaises(NotSerializableError) as caught:
                self.mock.checkpoint(bad)
            self.assertIsInstance(caught.exception, TypeError)
            self.assertIsInstance(caught.exception, IronCageError)
        self.assertEqual(self.mock.checkpoints, [])

    def test_checkpoint_size_limit(self):
        with self.assertRaises(CheckpointTooLargeError):
            self.mock.checkpoint("x" * 1_000_001)
        self.mock.checkpoint("x" * 999_990)

    def test_progress_arguments(self):
        with self.assertRaises(ValueError):
            self.mock.report_progress(-1)
        with self.assertRaises(TypeError):
            self.mock.report_progress(True)
        with self.assertRaises(TypeError):
            self.mock.report_progress(1.5, 10)
        with self.assertRaises(ValueError):
            self.mock.report_progress(1, -3)
        self.mock.report_progress(0, 0)
        self.assertEqual(self.mock.progress, {"done": 0, "total": None, "unit": "leads"})
        self.mock.report_progress(2, unit="pages")
        self.mock.assert_progress(2, unit="pages")

    def test_event_arguments(self):
        with self.assertRaises(ValueError):
            self.mock.event("x", severity="loud")
        with self.assertRaises(ValueError):
            self.mock.event("   ")
        self.mock.event("m" * 5000, severity="WARNING", when=object(), ratio=float("nan"), nested={"k": (1, 2)})
        event = self.mock.events[-1]
        self.assertEqual(len(event["message"]), 2000)
        self.assertEqual(event["severity"], "warn")
        self.assertEqual(event["data"]["ratio"], "nan")
        self.assertEqual(event["data"]["nested"], {"k": [1, 2]})
        json.dumps(event, allow_nan=False)


class AssertionHelpersTest(unittest.TestCase):
    def test_assert_progress(self):
        mock = MockRuntime()
        with self.assertRaises(AssertionError):
            mock.assert_progress(0)
        mock.report_progress(3, 10)
        mock.assert_progress(3)
        mock.assert_progress(3, 10)
        with self.assertRaises(AssertionError) as caught:
            mock.assert_progress(3, 11)
        self.assertIn("'done': 3", str(caught.exception))

    def test_assert_event(self):
        mock = MockRuntime()
        mock.event("Lead 42 enriched", severity="info", lead=42)
        self.assertEqual(mock.assert_event("enriched")["data"], {"lead": 42})
        mock.assert_event("Lead 42", severity="info", lead=42)
        for args, kwargs in ((("enriched",), {"severity": "error"}), (("missing",), {}), (("Lead",), {"lead": 7})):
            with self.assertRaises(AssertionError):
                mock.assert_event(*args, **kwargs)
        with self.assertRaises(AssertionError):
            mock.assert_no_event("enriched")

    def test_assert_checkpoint(self):
        mock = MockRuntime()
        mock.checkpoint({"next": (1, 2)})
        mock.assert_checkpoint({"next": [1, 2]})
        with self.assertRaises(AssertionError):
            mock.assert_checkpoint({"next": 3})

    def test_budget(self):
        mock = MockRuntime(budget=1.0)
        self.assertAlmostEqual(mock.simulate_spend(0.4), 0.6)
        mock.assert_budget_not_exceeded()
        with self.assertRaises(AssertionError):
            mock.assert_budget_exceeded()
        with self.assertRaises(BudgetExceededError) as caught:
            mock.simulate_spend(0.7, model="gpt-4o")
        self.assertEqual((caught.exception.limit_usd, caught.exception.spent_usd), (1.0, 0.4))
        self.assertIn("$0.40 of $1.00", str(caught.exception))
        refusal = mock.assert_budget_exceeded()
        self.assertEqual(refusal["model"], "gpt-4o")
        self.assertAlmostEqual(mock.spent_usd, 0.4)
        mock.assert_event("Budget exceeded", severity="critical")
        self.assertEqual(mock.status()["budget"], {"limitUsd": 1.0, "spentUsd": 0.4, "reservedUsd": 0.0})
        self.assertAlmostEqual(mock.simulate_spend(0.6), 0.0)

    def test_unlimited_budget_never_refuses(self):
        mock = MockRuntime()
        self.assertIsNone(mock.simulate_spend(1000))
        self.assertIsNone(mock.status()["budget"])
        with self.assertRaises(ValueError):
            mock.simulate_spend(-1)

    def test_pii_modes(self):
        email = data.pii_samples("email")[0]
        mock = MockRuntime()
        self.assertEqual(mock.simulate_pii("email", email), "[EMAIL_REDACTED]")
        mock.assert_pii_detected("email", email)
        with self.assertRaises(AssertionError):
            mock.assert_pii_detected("ssn")
        event = mock.assert_event("PII detected", severity="warn", piiType="email")
        self.assertNotIn(email, json.dumps(event))

        blocking = MockRuntime(pii_mode="block")
        with self.assertRaises(PiiBlockedError) as caught:
            blocking.simulate_pii("ssn", "123-45-6789")
        self.assertNotIn("123-45-6789", str(caught.exception))
        blocking.assert_pii_detected("ssn")

        self.assertEqual(MockRuntime(pii_mode="warn").simulate_pii("phone", "x"), "x")
        MockRuntime().assert_no_pii_detected()
        with self.assertRaises(ValueError):
            MockRuntime(pii_mode="ignore")

    def test_pii_labels_are_the_engines_for_every_type(self):
        # The engine writes [<TYPE>_REDACTED] (src/domain/pii/types.ts); test/pii/sdk-parity.test.ts
        # checks these against the engine itself.
        from iron_cage.testing import PII_TYPES, replacement_for

        self.assertEqual(
            PII_TYPES, ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "API_KEY")
        )
        mock = MockRuntime()
        for kind in PII_TYPES:
            sample = data.pii_samples(kind.lower())[0]
            self.assertEqual(mock.simulate_pii(kind.lower(), sample), f"[{kind}_REDACTED]")
            self.assertEqual(mock.simulate_pii(kind, sample), f"[{kind}_REDACTED]")
            self.assertEqual(replacement_for(kind), f"[{kind}_REDACTED]")
        self.assertEqual(len(mock.pii_detections), 2 * len(PII_TYPES))

    def test_an_unknown_pii_type_is_refused_and_not_recorded(self):
        mock = MockRuntime()
        with self.assertRaises(ValueError) as caught:
            mock.simulate_pii("name", "Jane Doe")
        self.assertIn("API_KEY", str(caught.exception))
        self.assertNotIn("Jane Doe", str(caught.exception))
        mock.assert_no_pii_detected()
        self.assertEqual(mock.events, [])


class UnittestBaseClassTest(IronCageTestCase):
    runtime_options = {"budget": 2.0}

    def test_runtime_is_installed(self):
        self.assertIs(iron_cage.get_runtime(), self.runtime)
        iron_cage.report_progress(1, 2)
        self.runtime.assert_progress(1, 2)
        self.assertEqual(self.runtime.budget, 2.0)


class DataTest(unittest.TestCase):
    def test_pii_text_is_deterministic_and_lists_what_it_contains(self):
        first, again = data.pii_text(seed=7, count=4), data.pii_text(seed=7, count=4)
        self.assertEqual(first, again)
        self.assertEqual(len(first.items), 4)
        for kind, value in first.items:
            self.assertIn(value, first.text)
            self.assertIn(value, data.PII_SAMPLES[kind])
        only = data.pii_text(seed=1, count=3, types=("email",))
        self.assertEqual({kind for kind, _ in only.items}, {"email"})
        with self.assertRaises(KeyError):
            data.pii_samples("dna")

    def test_card_numbers_pass_luhn(self):
        def luhn_ok(number):
            total = 0
            for index, char in enumerate(reversed(number)):
                digit = int(char)
                if index % 2:
                    digit = digit * 2 - 9 if digit > 4 else digit * 2
                total += digit
            return total % 10 == 0

        for seed in range(20):
            number = data.card_number(seed)
            self.assertEqual(len(number), 16)
            self.assertTrue(luhn_ok(number), number)
        for sample in data.PII_SAMPLES["credit_card"]:
            self.assertTrue(luhn_ok(sample.replace(" ", "").replace("-", "")), sample)

    def test_provider_responses(self):
        body = data.chat_completion("hi", prompt_tokens=3, completion_tokens=2)
        self.assertEqual(body["choices"][0]["message"]["content"], "hi")
        self.assertEqual(body["usage"]["total_tokens"], 5)
        self.assertEqual(data.anthropic_message("yo")["content"][0]["text"], "yo")


class PytestPluginTest(unittest.TestCase):
    def test_fixture_installs_a_mock_for_one_test(self):
        # pytest is not installed here; a stand-in whose fixture decorator is the identity is
        # enough to drive the fixture generators the way pytest would.
        fake = types.ModuleType("pytest")
        fake.fixture = lambda fn: fn
        saved = sys.modules.get("pytest")
        sys.modules["pytest"] = fake
        sys.modules.pop("iron_cage.testing.pytest_plugin", None)
        try:
            from iron_cage.testing import pytest_plugin

            gen = pytest_plugin.iron_cage_runtime()
            runtime = next(gen)
            self.assertIsInstance(runtime, MockRuntime)
            self.assertIs(iron_cage.get_runtime(), runtime)
            with self.assertRaises(StopIteration):
                next(gen)
            from iron_cage import _registry

            self.assertNotIn(runtime, _registry._stack)
            self.assertIn("email", pytest_plugin.iron_cage_pii_samples())
        finally:
            sys.modules.pop("iron_cage.testing.pytest_plugin", None)
            if saved is None:
                sys.modules.pop("pytest", None)
            else:
                sys.modules["pytest"] = saved


class SecretRotationTest(unittest.TestCase):
    def setUp(self):
        self.enterContext(patch.dict(os.environ, {"MOCK_API_KEY": "old-value"}))
        os.environ.pop("MOCK_OTHER", None)

    def test_rotation_updates_environ_fires_callbacks_and_is_undone_after_the_block(self):
        outside = []
        iron_cage.on_secrets_rotated(outside.append)
        self.addCleanup(iron_cage.remove_secrets_callback, outside.append)
        with MockRuntime() as mock:
            clients = []

            @iron_cage.on_secrets_rotated
            def rebuild(names):
                clients.append({name: os.environ.get(name) for name in names})

            changed = mock.rotate_secrets({"MOCK_API_KEY": "new-value", "MOCK_OTHER": "added"})
            self.assertEqual(changed, ["MOCK_API_KEY", "MOCK_OTHER"])
            self.assertEqual(clients, [{"MOCK_API_KEY": "new-value", "MOCK_OTHER": "added"}])
            mock.assert_secrets_rotated(["MOCK_OTHER", "MOCK_API_KEY"])

            self.assertEqual(mock.rotate_secrets({"MOCK_OTHER": None, "MOCK_API_KEY": "new-value"}), ["MOCK_OTHER"])
            self.assertNotIn("MOCK_OTHER", os.environ)
            mock.assert_secrets_rotated(["MOCK_OTHER"])
            # A rotation that changes nothing calls nobody and is not recorded.
            self.assertEqual(mock.rotate_secrets({"MOCK_API_KEY": "new-value"}), [])
            self.assertEqual(len(clients), 2)
            self.assertEqual(mock.secret_rotations, [["MOCK_API_KEY", "MOCK_OTHER"], ["MOCK_OTHER"]])
            self.assertEqual(mock.calls[-1], ("secrets_rotated", ["MOCK_OTHER"]))
            # Inside the mock the agent's own reload asks no server and warns about nothing.
            with self.assertNoLogs("iron_cage", logging.DEBUG):
                self.assertEqual(iron_cage.reload_secrets(), [])
        self.assertEqual(outside, [["MOCK_API_KEY", "MOCK_OTHER"], ["MOCK_OTHER"]])
        self.assertEqual(os.environ["MOCK_API_KEY"], "old-value")
        self.assertNotIn("MOCK_OTHER", os.environ)
        # The callback registered inside the block went with it; the one from outside stays.
        with MockRuntime() as mock:
            mock.rotate_secrets({"MOCK_API_KEY": "third"})
        self.assertEqual(len(clients), 2)
        self.assertEqual(len(outside), 3)

    def test_a_failing_callback_is_logged_and_the_others_still_run(self):
        got = []
        with MockRuntime() as mock:
            iron_cage.on_secrets_rotated(lambda names: 1 / 0)
            iron_cage.on_secrets_rotated(got.append)
            with self.assertLogs("iron_cage", logging.ERROR) as logs:
                mock.rotate_secrets({"MOCK_API_KEY": "sk-very-secret-value"})
        self.assertEqual(got, [["MOCK_API_KEY"]])
        self.assertIn("callback (<lambda>) failed", logs.output[0])
        self.assertNotIn("sk-very-secret-value", "\n".join(logs.output))

    def test_assert_secrets_rotated_fails_with_names_only(self):
        with MockRuntime() as mock:
            mock.rotate_secrets({"MOCK_API_KEY": "sk-very-secret-value"})
            with self.assertRaises(AssertionError) as caught:
                mock.assert_secrets_rotated(["MOCK_OTHER"])
            with self.assertRaises(TypeError) as bad:
                mock.rotate_secrets({"MOCK_OTHER": 42})
        self.assertIn("['MOCK_OTHER']", str(caught.exception))
        self.assertIn("[['MOCK_API_KEY']]", str(caught.exception))
        self.assertNotIn("sk-very-secret-value", str(caught.exception))
        self.assertNotIn("42", str(bad.exception))
        with self.assertRaises(TypeError):
            iron_cage.on_secrets_rotated("not callable")


if __name__ == "__main__":
    unittest.main()
