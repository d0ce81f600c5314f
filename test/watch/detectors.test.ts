import { describe, expect, it } from 'vitest';
import { emptyPrompt, type PromptParts } from '../../src/core/prompt.js';
import { emptyArgs, functionCalls, functionKey, LoopTracker, loopMoney, normaliseArgs, promptKey, SpendLog, spikeOf, sortedQuery, stalled, toolKey } from '../../src/domain/watch/index.js';

const chat = (...texts: string[]): PromptParts => ({ ...emptyPrompt(), messages: texts.map((t) => ({ role: 'user' as const, parts: [{ type: 'text' as const, text: t }] })) });

describe('fingerprints', () => {
  it('normalise arguments: JSON parsed, keys sorted, whitespace gone; other text with its whitespace collapsed', () => {
    expect(normaliseArgs('{ "b": 2,\n "a": [1, {"z": 1, "y": 2}] }')).toBe('{"a":[1,{"y":2,"z":1}],"b":2}');
    expect(normaliseArgs({ b: 2, a: 1 })).toBe('{"a":1,"b":2}');
    expect(normaliseArgs('  not   json\there ')).toBe('not json here');
    for (const e of ['', '{}', ' { } ', '[]', 'null']) expect(emptyArgs(normaliseArgs(e))).toBe(true);
    expect(emptyArgs(normaliseArgs('{"a":1}'))).toBe(false);
  });

  it('a tool call is its service, method, path, sorted query and normalised body', () => {
    const base = { service: 'crm', method: 'POST', path: '/leads', query: 'b=2&a=1', body: Buffer.from('{"x": 1, "y": 2}') };
    const k = toolKey(base);
    expect(k).toMatch(/^[0-9a-f]{16}$/);
    expect(toolKey({ ...base, query: 'a=1&b=2', body: Buffer.from('{"y":2,"x":1}'), method: 'post' })).toBe(k);
    expect(toolKey({ ...base, query: 'a=1&b=3' })).not.toBe(k);
    expect(toolKey({ ...base, path: '/leads/2' })).not.toBe(k);
    expect(toolKey({ ...base, service: 'mail' })).not.toBe(k);
    expect(toolKey({ ...base, body: Buffer.from('{"x":2,"y":2}') })).not.toBe(k);
    expect(toolKey({ ...base, body: null })).not.toBe(k);
    expect(sortedQuery('?z=1&a=2')).toBe('a=2&z=1');
  });

  it('a prompt is its model and its texts and calls as sent; it never holds the text', () => {
    const k = promptKey('gpt-4o-mini', chat('Find the company of lead 42'));
    expect(k).toMatch(/^[0-9a-f]{16}$/);
    expect(promptKey('gpt-4o-mini', chat('Find the company of lead 42'))).toBe(k);
    // Read as sent: the hash is on every call's path, and an agent repeating itself sends the same bytes.
    expect(promptKey('gpt-4o-mini', chat('Find the  company\nof lead 42'))).not.toBe(k);
    expect(promptKey('gpt-4o', chat('Find the company of lead 42'))).not.toBe(k);
    expect(promptKey('gpt-4o-mini', chat('Find the company of lead 43'))).not.toBe(k);
    expect(promptKey('gpt-4o-mini', emptyPrompt())).toBeNull();
  });

  it("function calls are read from the request's history, each with its id", () => {
    const p: PromptParts = {
      ...emptyPrompt(),
      messages: [
        { role: 'user', parts: [{ type: 'text', text: 'go' }] },
        { role: 'assistant', parts: [{ type: 'call', id: 'c1', name: 'lookup', input: '{"name": "Acme", "country":"DE"}' }] },
        { role: 'tool', callId: 'c1', parts: [{ type: 'text', text: 'nothing' }] },
        { role: 'assistant', parts: [{ type: 'call', id: 'c2', name: 'lookup', input: { country: 'DE', name: 'Acme' } }] },
      ],
    };
    const calls = functionCalls(p);
    expect(calls.map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(calls[0]!.args).toBe('{"country":"DE","name":"Acme"}');
    expect(functionKey(calls[0]!)).toBe(functionKey(calls[1]!));
  });
});

describe('LoopTracker', () => {
  const rules = { windowMs: 1000, count: { tool: 3, function: 3, prompt: 4 } };
  const at = (ms: number, id: number) => ({ ms, requestId: null, toolCallId: id });

  it('says a loop at the count, then each time the count doubles; another key or agent is another thing', () => {
    const t = new LoopTracker(rules);
    const hits: number[] = [];
    for (let i = 1; i <= 13; i++) {
      const hit = t.see('a', 'tool', 'k', () => 'crm GET /x', at(i * 10, i));
      if (hit) hits.push(hit.sightings.length);
      expect(t.see('b', 'tool', 'k', () => 'x', at(i * 10, i))?.kind ?? null).toBe(i === 3 || i === 6 || i === 12 ? 'tool' : null);
    }
    expect(hits).toEqual([3, 6, 12]);
    expect(t.see('a', 'tool', 'other', () => 'y', at(200, 99))).toBeNull();
    expect(t.active('a', 200).map((l) => [l.key, l.sightings.length, l.label])).toEqual([['k', 13, 'crm GET /x']]);
  });

  it('counts only sightings within the window; one that fell back under the count is said afresh', () => {
    const t = new LoopTracker(rules);
    expect(t.see('a', 'tool', 'k', () => 'l', at(0, 1))).toBeNull();
    expect(t.see('a', 'tool', 'k', () => 'l', at(600, 2))).toBeNull();
    // The first aged out: two within the window.
    expect(t.see('a', 'tool', 'k', () => 'l', at(1200, 3))).toBeNull();
    expect(t.see('a', 'tool', 'k', () => 'l', at(1300, 4))?.sightings.map((s) => s.toolCallId)).toEqual([2, 3, 4]);
    expect(t.active('a', 5000)).toEqual([]);
    for (const ms of [6000, 6001]) expect(t.see('a', 'tool', 'k', () => 'l', at(ms, 0))).toBeNull();
    expect(t.see('a', 'tool', 'k', () => 'l', at(6002, 0))?.sightings).toHaveLength(3);
  });

  it('a prompt loop takes its own count', () => {
    const t = new LoopTracker(rules);
    const seen = [1, 2, 3, 4].map((i) => t.see('a', 'prompt', 'p', () => 'm', { ms: i, requestId: i, toolCallId: null }) !== null);
    expect(seen).toEqual([false, false, false, true]);
  });
});

describe('money and spikes', () => {
  it("a prompt loop's waste is its repeats; a tool loop's is every call started after its first sighting", () => {
    const log = new SpendLog(10_000);
    log.add({ id: 1, startMs: 0, settledMs: 100, micros: 1000 });
    log.add({ id: 2, startMs: 150, settledMs: 200, micros: 2000 });
    log.add({ id: 3, startMs: 250, settledMs: 300, micros: 4000 });
    const prompt = {
      kind: 'prompt' as const,
      key: 'k',
      label: '',
      reported: 3,
      seq: null,
      reportedMs: 250,
      sightings: [1, 2, 3].map((id, i) => ({ ms: [0, 150, 250][i]!, requestId: id, toolCallId: null })),
    };
    expect(loopMoney(prompt, log)).toEqual({ spent: 7000, wasted: 6000 });
    const tool = { ...prompt, kind: 'tool' as const, sightings: [{ ms: 120, requestId: null, toolCallId: 9 }] };
    // Spent: settled since the first sighting (call 1 settled before it); wasted: started after it.
    expect(loopMoney(tool, log)).toEqual({ spent: 6000, wasted: 6000 });
    expect(loopMoney(tool, undefined)).toEqual({ spent: 0, wasted: 0 });
  });

  it('a spike is the window against its own baseline; none without a baseline as long as the window', () => {
    const rules = { factor: 5, windowMs: 1000, baselineMs: 4000, minMicros: 1000 };
    const log = new SpendLog(5000);
    // $0.0001 every 100 ms for 4 s: 1,000 µ$/s.
    for (let ms = 0; ms < 4000; ms += 100) log.add({ id: ms, startMs: ms, settledMs: ms, micros: 100 });
    expect(spikeOf(log, 3999, rules)).toBeNull();
    // Then 10× as fast for a second.
    for (let ms = 4000; ms < 5000; ms += 10) log.add({ id: ms, startMs: ms, settledMs: ms, micros: 100 });
    const s = spikeOf(log, 4999, rules)!;
    expect(s.factor).toBeCloseTo(10, 0);
    expect(s.micros).toBe(10_000);
    expect(s.rate).toBeCloseTo(600_000, -3);
    // An agent's first second is no spike: nothing to compare it with.
    const young = new SpendLog(5000);
    for (let ms = 0; ms < 1000; ms += 10) young.add({ id: ms, startMs: ms, settledMs: ms, micros: 1000 });
    expect(spikeOf(young, 999, rules)).toBeNull();
    // Under min spend: never.
    expect(spikeOf(log, 4999, { ...rules, minMicros: 20_000 })).toBeNull();
  });

  it('the log holds what a list of every call would: through bursts that grow its columns and quiet spells that shrink them', () => {
    const retainMs = 1000;
    const log = new SpendLog(retainMs);
    const all: Array<{ id: number | null; startMs: number; settledMs: number; micros: number }> = [];
    let ms = 0;
    let n = 0;
    // Bursts of thousands of calls a second between quiet spells of one call in a while.
    for (const [calls, gapMs] of [
      [3000, 0.2],
      [50, 300],
      [5000, 0.1],
      [10, 2000],
      [700, 1],
    ] as const) {
      for (let i = 0; i < calls; i++) {
        ms += gapMs;
        const c = { id: n % 7 === 0 ? null : n, startMs: ms - 5, settledMs: ms, micros: n % 13 };
        n++;
        log.add(c);
        all.push(c);
        if (i % 97 !== 0) continue;
        const kept = all.filter((x) => x.settledMs >= ms - retainMs);
        const sum = (xs: typeof kept) => xs.reduce((a, x) => a + x.micros, 0);
        expect([...log.all()]).toEqual(kept);
        expect(log.settledSince(ms - 300)).toBe(sum(kept.filter((x) => x.settledMs >= ms - 300)));
        expect(log.startedAfter(ms - 200)).toBe(sum(kept.filter((x) => x.startMs > ms - 200)));
        const ids = new Set(kept.filter((_, j) => j % 3 === 0).flatMap((x) => (x.id === null ? [] : [x.id])));
        expect(log.ofRows(ids)).toBe(sum(kept.filter((x) => x.id !== null && ids.has(x.id))));
        const within = kept.filter((x) => x.settledMs >= ms - 500 && x.settledMs < ms - 100);
        expect(log.between(ms - 500, ms - 100)).toEqual({ micros: sum(within), ids: within.flatMap((x) => (x.id === null ? [] : [x.id])) });
      }
    }
  });

  it('a stall is idleness of at least the limit', () => {
    expect(stalled(1000, 1999, 1000)).toBe(false);
    expect(stalled(1000, 2000, 1000)).toBe(true);
  });
});
