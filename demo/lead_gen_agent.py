#!/usr/bin/env python3
"""Lead-generation agent for the Iron Cage conference demo.

Written the way a real agent is: standard-library Python; LLM calls over the OpenAI wire
(POST {OPENAI_BASE_URL}/chat/completions with `Authorization: Bearer $OPENAI_API_KEY`, as the
official SDK makes them); LinkedIn, Clearbit and the mail API through the cage's tool proxy;
progress, outcomes and a checkpoint per lead through the iron_cage SDK, so a crash-restart resumes.

For each lead in leads.csv: fetch the contact's LinkedIn profile, qualify the lead with a small
model, draft the outreach with a large one and send the first e-mail of it. When LinkedIn stops
answering (its circuit is open, or it fails), the agent enriches the lead from Clearbit's company
record instead, which needs an extra research step on a larger-context model: that is what makes
the later leads dearer. Prompts and models live in lead_gen_agent.json.

What a service answers is data, and this agent puts it in its prompts as it came: the cage reads
it on the way in. An e-mail the cage's policy refuses (PolicyDeniedError: nothing was sent) is
not a failed lead: the lead is qualified and drafted, and a person decides about the e-mail.

    iron-cage start demo/lead_gen_agent.py --budget 50 -- [--leads N]

DEMO_PACE_S: seconds each lead should take at least (0: as fast as it goes).
"""

import argparse
import csv
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import iron_cage
from iron_cage import PolicyDeniedError, tools

HERE = Path(__file__).resolve().parent
SENDER = "sales@company.com"


class BudgetExhausted(Exception):
    pass


class LlmError(Exception):
    pass


@iron_cage.on_secrets_rotated
def secrets_rotated(names):
    # The key is read from the environment on every call, so nothing needs rebuilding.
    print(f"secrets rotated ({', '.join(names) or 'none of them mine'}): the next call uses the current key", flush=True)


def chat(request, attempts=3):
    """One chat completion, as the OpenAI SDK would make it (retries 5xx and plain 429s)."""
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    data = json.dumps(request).encode("utf-8")
    for attempt in range(attempts):
        req = urllib.request.Request(
            f"{base}/chat/completions",
            data=data,
            method="POST",
            headers={"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as res:
                return json.loads(res.read())["choices"][0]["message"]["content"]
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            code = ""
            try:
                code = (json.loads(body).get("error") or {}).get("code") or ""
            except ValueError:
                pass
            if code in ("budget_exceeded", "insufficient_quota"):
                raise BudgetExhausted(body) from None
            if e.headers.get("x-should-retry") == "false" or not (e.code == 429 or e.code >= 500) or attempt == attempts - 1:
                raise LlmError(f"HTTP {e.code}: {body[:200]}") from None
        except (urllib.error.URLError, TimeoutError) as e:
            if attempt == attempts - 1:
                raise LlmError(str(e)) from None
        time.sleep(0.5 * 2**attempt)
    raise LlmError("unreachable")


def fill(template, fields):
    return template.format(**fields)


def record_for(lead):
    """LinkedIn's profile while LinkedIn answers live (or from the cage's cache); else Clearbit's company record."""
    r = tools.get("linkedin", "/people/search", params={"domain": lead["domain"]})
    if r.status == 200 and r.tier in ("live", "cache"):
        return "LinkedIn", r.text, True
    c = tools.get("clearbit", "/companies/find", params={"domain": lead["domain"]})
    if c.status == 200 and c.tier in ("live", "cache"):
        return "Clearbit", c.text, False
    return None, None, False


def address_of(lead):
    """The contact's work address, as the company writes them: first.last@domain."""
    return f"{re.sub(r'[^a-z]+', '.', lead['contact'].lower()).strip('.')}@{lead['domain']}"


def send_outreach(lead, draft):
    """The first e-mail of the draft to the contact, through the mail API: 'sent', 'refused' or 'failed'."""
    mail = {
        "to": address_of(lead),
        "from": SENDER,
        "subject": f"{lead['company']}: an idea for your {lead['industry']} team",
        "text": draft[:600],
    }
    try:
        tools.post("mailer", "/mail/send", json=mail).raise_for_status()
        return "sent", None
    except PolicyDeniedError as e:
        return "refused", str(e)
    except iron_cage.IronCageError as e:
        return "failed", str(e)


def process(plan, lead, n, total, outbox):
    source, record, linkedin = record_for(lead)
    if source is None:
        print(f"lead {n}/{total} {lead['id']} {lead['company']}: no LinkedIn or Clearbit record, skipped", flush=True)
        return False
    fields = dict(lead, n=str(n), total=str(total), source=source, record=record)
    answers = []
    for name in plan["with_linkedin" if linkedin else "without_linkedin"]:
        step = plan["steps"][name]
        answers.append(
            chat(
                {
                    "model": step["model"],
                    "messages": [
                        {"role": "system", "content": fill(step["system"], fields)},
                        {"role": "user", "content": fill(step["user"], fields)},
                    ],
                    "max_tokens": step["max_tokens"],
                }
            )
        )
    # What this agent received in place of the personal data: the cage's markers, not the text
    # again (the cage's own WARN line quotes the redacted excerpt).
    marks = sorted({m for a in answers for m in re.findall(r"\[[A-Z_]+_REDACTED\]", a)})
    outcome, why = send_outreach(lead, answers[-1])
    outbox[outcome] += 1
    said = {"sent": "e-mail sent", "refused": "e-mail refused by the cage's policy, nothing sent", "failed": "e-mail not sent"}[outcome]
    print(f"lead {n}/{total} {lead['id']} {lead['company']}: {source}, {len(answers)} model calls, {said}", flush=True)
    if marks:
        print(f"lead {n}: the model's answer held personal data, redacted by the cage: I got {', '.join(marks)}", flush=True)
    # Why, once: the cage's own line says it for every refusal.
    if outcome == "failed" or (outcome == "refused" and outbox["refused"] == 1):
        print(f"lead {n}: {why}", flush=True)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=None, help="process only the first N leads")
    args = ap.parse_args()
    plan = json.loads((HERE / "lead_gen_agent.json").read_text(encoding="utf-8"))
    with open(HERE / "leads.csv", newline="", encoding="utf-8") as f:
        leads = list(csv.DictReader(f))
    if args.leads is not None:
        leads = leads[: args.leads]
    total = len(leads)
    pace = float(os.environ.get("DEMO_PACE_S", "0") or 0)
    iron_cage.install_rotation_handler()

    state = iron_cage.restore(default={"next": 0, "succeeded": 0, "failed": 0})
    if state["next"]:
        print(f"resuming at lead {state['next'] + 1}/{total}", flush=True)
    succeeded, failed = state["succeeded"], state["failed"]
    outbox = {"sent": 0, "refused": 0, "failed": 0, **state.get("outbox", {})}
    for i in range(state["next"], total):
        started = time.monotonic()
        try:
            ok = process(plan, leads[i], i + 1, total, outbox)
        except BudgetExhausted:
            print(f"lead {i + 1}/{total}: the budget is spent; stopping", flush=True)
            return 0
        except (LlmError, tools.ToolError) as e:
            print(f"lead {i + 1}/{total} failed: {e}", flush=True)
            ok = False
        succeeded, failed = succeeded + ok, failed + (not ok)
        iron_cage.report_progress(i + 1, total, unit="leads", succeeded=succeeded, failed=failed)
        iron_cage.checkpoint({"next": i + 1, "succeeded": succeeded, "failed": failed, "outbox": outbox})
        rest = pace - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
    print(
        f"done: {succeeded} of {total} leads qualified and drafted; outreach e-mails: {outbox['sent']} sent, "
        f"{outbox['refused']} refused by the cage's policy, {outbox['failed']} failed",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the whole process group; the cage stops the run and says
        # so. A traceback here would only be noise on stage.
        sys.exit(130)
