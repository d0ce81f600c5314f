import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PII_TYPES, redact } from '../../src/domain/pii/index.js';
import { replacementFor } from '../../src/domain/pii/types.js';
import { ROOT } from '../helpers/runtime.js';

// The Python SDK's MockRuntime stands in for the engine in agents' unit tests, so it must
// name and label PII exactly as the engine does, and its sample data must be what the engine
// finds. Drift here once had the mock say [REDACTED_EMAIL] where the engine says [EMAIL_REDACTED].

const PROBE = `
import json
from iron_cage.testing import MockRuntime, PII_SAMPLES, PII_TYPES
mock = MockRuntime()
print(json.dumps({
    "types": list(PII_TYPES),
    "labels": {t: mock.simulate_pii(t.lower(), PII_SAMPLES[t.lower()][0]) for t in PII_TYPES},
    "samples": {k: list(v) for k, v in PII_SAMPLES.items()},
}))
`;

function fromPython(): { types: string[]; labels: Record<string, string>; samples: Record<string, string[]> } {
  const r = spawnSync('python3', ['-c', PROBE], { env: { ...process.env, PYTHONPATH: join(ROOT, 'src/python') }, encoding: 'utf8', timeout: 20_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describe('the Python SDK and the PII engine agree', () => {
  const sdk = fromPython();

  it('on the list of types', () => {
    expect(sdk.types).toEqual([...PII_TYPES]);
    expect(
      Object.keys(sdk.samples)
        .map((k) => k.toUpperCase())
        .sort(),
    ).toEqual([...PII_TYPES].sort());
  });

  it('on the label that replaces a redacted value of each type', () => {
    for (const type of PII_TYPES) expect(sdk.labels[type], type).toBe(replacementFor(type));
  });

  it("on what each sample is: the engine finds it whole, as its own type, and redacts it to the mock's label", () => {
    for (const [kind, values] of Object.entries(sdk.samples)) {
      const type = kind.toUpperCase();
      for (const value of values) {
        const text = `Contact: ${value}.`;
        const r = redact(text);
        expect(
          r.detections.map((d) => [d.type, d.value]),
          value,
        ).toEqual([[type, value]]);
        expect(r.text, value).toBe(`Contact: ${sdk.labels[type]}.`);
      }
    }
  });
});
