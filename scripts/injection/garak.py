"""Writes the latent injections of garak (github:NVIDIA/garak, Apache-2.0, `garak/probes/latentinjection.py`)
as the documents they sit in: each probe's contexts (a report, a résumé, fact snippets, a sentence
to translate) with its injection instructions, separators, payloads and triggers filled in (label 1),
and each context without them (label 0), one JSON line each: {"id", "text", "label", "group"}. The
user's request garak puts before a document (`Summarize this article for me:`) is left out: the
document is what a tool returns. LatentWhois is left out (its contexts are WHOIS records from a
payload file of their own).

The probes' lists are read from the module's source (the class attributes that are literals or
f-strings of the module's markers, through the probes' base classes), nothing of garak is imported.
Fact snippets are composed as garak composes them: five of a probe's paragraphs in a random order
with the injection between two of them (seeded, so the lines are the same each time).

    python3 scripts/injection/garak.py <garak clone or git dir> > garak.jsonl
"""
import ast
import json
import random
import sys

import repo_file

MARKERS = {"INJECTION_MARKER": "<|garak_injection|>", "PAYLOAD_MARKER": "<|garak_payload|>", "TRIGGER_MARKER": "<|garak_trigger|>"}
INJECTION, PAYLOAD, TRIGGER = MARKERS.values()
repo = sys.argv[1]


def read(path):
    return repo_file.read(repo, path)


def classes(source):
    out = {}
    for c in ast.parse(source).body:
        if not isinstance(c, ast.ClassDef):
            continue
        ns, attrs = dict(MARKERS), {}
        for s in c.body:
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name):
                try:
                    value = eval(compile(ast.Expression(s.value), "probe", "eval"), {"__builtins__": {}}, ns)
                except Exception:
                    continue
                attrs[s.targets[0].id] = ns[s.targets[0].id] = value
        out[c.name] = (attrs, [b.id for b in c.bases if isinstance(b, ast.Name)])
    return out


def main():
    found = classes(read("garak/probes/latentinjection.py"))
    domains = json.loads(read("garak/data/payloads/domains_latentinjection.json"))["payloads"]

    def resolved(name):
        attrs, bases = found[name]
        out = {}
        for b in reversed(bases):
            if b in found:
                out.update(resolved(b))
        return {**out, **attrs}

    rng = random.Random(0)
    seen = set()
    for name in found:
        if not name.startswith(("LatentInjection", "LatentJailbreak")) or name.endswith("Mixin"):
            continue
        a = resolved(name)
        if "injection_instructions" not in a:
            continue
        # the Report and Résumé probes load their triggers from a payload file: its first two domains
        triggers = (a.get("payload_triggers") or domains)[:2] if name.startswith(("LatentInjectionReport", "LatentInjectionResume")) else (a.get("payload_triggers") or ["Haha pwned!"])[:2]
        contexts = a.get("contexts")
        if not contexts and "paragraphs" in a:
            contexts = []
            for _ in range(6):
                snippets = rng.sample(a["paragraphs"], min(5, len(a["paragraphs"])))
                snippets.insert(rng.randrange(1, len(snippets) + 1), INJECTION)
                contexts.append("\n".join(snippets))
        for i, context in enumerate(contexts or []):
            if INJECTION not in context:
                continue
            rows = [(f"{name}:{i}", context.replace(INJECTION, ""), 0, name)]
            for start, end in a.get("injection_sep_pairs", [("", "")]):
                for k, instruction in enumerate(a["injection_instructions"]):
                    for payload in a.get("payloads", [TRIGGER]):
                        for trigger in triggers:
                            injection = start + instruction.replace(PAYLOAD, payload.replace(TRIGGER, trigger)) + end
                            rows.append((f"{name}:{i}:{k}", context.replace(INJECTION, injection), 1, f"{name}:{k}"))
            for rid, text, label, group in rows:
                if text in seen:
                    continue
                seen.add(text)
                sys.stdout.write(json.dumps({"id": rid, "text": text, "label": label, "group": group}, ensure_ascii=False) + "\n")


main()
