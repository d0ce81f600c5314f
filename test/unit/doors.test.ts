import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { before, Door, type Entry, GUARD_IS, type Guard, here, inside, LIFECYCLE, skip, type Table } from '../../src/core/stages.js';
import { LLM_CALL, LLM_SURFACE } from '../../src/gateway/doors.js';
import { MCP_DOORS, MCP_ENDPOINT, MCP_NOTIFICATION, MCP_READ, MCP_RELAYED, MCP_TOOLS_CALL, MCP_TOOLS_LIST } from '../../src/mcp/doors.js';
import { AGENT_NOTIFICATIONS, AGENT_REQUESTS } from '../../src/mcp/session.js';
import { TOOL_PROXY } from '../../src/tools/door.js';
import { ROOT } from '../helpers/runtime.js';

// Every door of the cage is a table over one lifecycle of guards (src/core/stages.ts), and the
// same table runs its calls: what is listed here is what each door does, in that order. A door
// that lacks a guard another applies says why, or it is not built; ARCHITECTURE.md's matrix is
// this data.

const DOORS = [LLM_CALL, LLM_SURFACE, TOOL_PROXY, ...MCP_DOORS] as const;

/** A door as listed, whatever its steps. */
type Listed = Pick<Door, 'name' | 'table' | 'applied' | 'skipped'>;

/** A door's guards in order: `g` a step of its own, `g<in s>` inside its stage s, `g<before>` applied by the door it follows. */
const listed = (d: Listed): string =>
  d
    .applied()
    .map((a) => (a.how === 'here' ? a.guard : a.how === 'inside' ? `${a.guard}<in ${a.does.split(':')[0]!.slice('inside '.length)}>` : `${a.guard}<before>`))
    .join(' ');
const skipped = (d: Listed): string =>
  d
    .skipped()
    .map((s) => s.guard)
    .join(' ');

/** Each door: the guards it applies, in order, and those it skips (each with its reason, in its table). */
const EXPECTED: ReadonlyArray<{ door: Listed; applies: string; skips: string }> = [
  {
    door: LLM_CALL,
    applies: 'auth pause read pii injection budget send size<in send> scrub<in send> answer.pii<in send> answer.policy<in send> record observe',
    skips: 'allow policy answer.allow answer.injection',
  },
  {
    door: LLM_SURFACE,
    applies: 'auth read<in send> pii<in send> send size<in send> scrub<in send>',
    skips: 'pause allow injection policy budget answer.allow answer.pii answer.injection answer.policy record observe',
  },
  {
    door: TOOL_PROXY,
    applies: 'auth pause read policy send size<in send> scrub<in send> answer.pii<in send> answer.injection<in send> record observe',
    skips: 'allow pii injection budget answer.allow answer.policy',
  },
  {
    door: MCP_ENDPOINT,
    applies: 'auth pause read send scrub<in send> answer.pii<in send> answer.injection<in send>',
    skips: 'allow pii injection policy budget size answer.allow answer.policy record observe',
  },
  {
    door: MCP_TOOLS_CALL,
    applies: 'auth<before> pause<before> read allow pii policy budget send size scrub answer.pii<in scrub> answer.injection<in scrub> record observe<in record>',
    skips: 'injection answer.allow answer.policy',
  },
  {
    door: MCP_TOOLS_LIST,
    applies: 'auth<before> pause<before> read allow pii send size answer.allow scrub answer.pii<in scrub> answer.injection<in scrub> record',
    skips: 'injection policy budget answer.policy observe',
  },
  {
    door: MCP_READ,
    applies: 'auth<before> pause<before> read allow pii policy send size scrub answer.pii<in scrub> answer.injection<in scrub>',
    skips: 'injection budget answer.allow answer.policy record observe',
  },
  {
    door: MCP_RELAYED,
    applies: 'auth<before> pause<before> read allow pii send size scrub answer.pii<in scrub> answer.injection<in scrub>',
    skips: 'injection policy budget answer.allow answer.policy record observe',
  },
  {
    door: MCP_NOTIFICATION,
    applies: 'auth<before> pause<before> allow pii send',
    skips: 'read injection policy budget size answer.allow scrub answer.pii answer.injection answer.policy record observe',
  },
];

describe('each door’s guards, in the order it applies them', () => {
  it('lists every door', () => expect(EXPECTED.map((e) => e.door)).toEqual([...DOORS]));

  it.each(EXPECTED.map((e) => ({ name: e.door.name, ...e })))('$name', ({ door, applies, skips }) => {
    expect(listed(door)).toBe(applies);
    expect(skipped(door)).toBe(skips);
  });
});

describe('what a door lacks, it says why', () => {
  it('every guard any door applies is, at every other door, applied too or skipped with its reason', () => {
    const anywhere = new Set(DOORS.flatMap((d) => d.applied().map((a) => a.guard)));
    // Every guard of the lifecycle is some door's: none is there for nothing.
    expect([...anywhere].sort()).toEqual([...LIFECYCLE].sort());
    for (const d of DOORS)
      for (const g of anywhere) {
        const e: Entry = d.table[g];
        if (e.kind === 'skip') expect(e.why.length, `${d.name} skips ${g}`).toBeGreaterThanOrEqual(20);
      }
    for (const g of LIFECYCLE) expect(GUARD_IS[g].length, g).toBeGreaterThan(20);
  });

  it('the guards every agent-facing door must run are never skipped: auth and pause where a call can act, send’s answer cleaned where it carries another’s words', () => {
    for (const d of [LLM_CALL, TOOL_PROXY, MCP_TOOLS_CALL, MCP_TOOLS_LIST, MCP_READ, MCP_RELAYED, MCP_NOTIFICATION]) {
      expect(d.table.auth.kind, d.name).not.toBe('skip');
      expect(d.table.pause.kind, d.name).not.toBe('skip');
    }
    for (const d of [LLM_CALL, TOOL_PROXY, MCP_TOOLS_CALL, MCP_TOOLS_LIST, MCP_READ, MCP_RELAYED])
      for (const g of ['size', 'scrub', 'answer.pii'] as const) expect(d.table[g].kind, `${d.name}: ${g}`).not.toBe('skip');
    // Whatever the agent sends a model, or a server, is read before it leaves.
    for (const d of [MCP_TOOLS_CALL, MCP_TOOLS_LIST, MCP_READ, MCP_RELAYED, MCP_NOTIFICATION]) expect(d.table.pii.kind, d.name).toBe('here');
    // Whatever an agent runs or reads through the cage is put to the policies (`policies.default` included).
    for (const d of [TOOL_PROXY, MCP_TOOLS_CALL, MCP_READ]) expect(d.table.policy.kind, d.name).toBe('here');
  });

  it('a door that says nothing of a guard, skips one without a reason, or names a stage or door that does not apply it, is not built', () => {
    const all = Object.fromEntries(LIFECYCLE.map((g) => [g, here(`the ${g} step`)])) as unknown as Table;
    expect(() => new Door('whole', all)).not.toThrow();
    const { policy: _, ...noPolicy } = all;
    expect(() => new Door('no policy', noPolicy as Table)).toThrow(/door no policy: says nothing of the guard policy/);
    expect(() => new Door('terse', { ...all, policy: skip('no') })).toThrow(/skips policy without a reason/);
    expect(() => new Door('stray', { ...all, size: inside('budget', 'in the budget'), budget: skip('nothing is charged at this door') })).toThrow(/size is inside budget, which is no step/);
    expect(() => new Door('orphan', { ...all, pause: before(MCP_NOTIFICATION) })).toThrow(/pause is said to be applied by MCP notification of the agent, which has no step for it/);
    expect(() => new Door('extra', { ...all, retry: here('again') } as never)).toThrow(/retry is no guard of the lifecycle/);
  });
});

describe('MCP: every method the cage relays passes a door', () => {
  it('each request of AGENT_REQUESTS is of one request door, each door is some method’s, and the notification door passes what AGENT_NOTIFICATIONS relays', () => {
    const doors = new Set(Object.values(AGENT_REQUESTS).map((r) => r.door));
    expect([...doors].map((d) => d.name).sort()).toEqual([MCP_READ, MCP_RELAYED, MCP_TOOLS_CALL, MCP_TOOLS_LIST].map((d) => d.name).sort());
    expect(AGENT_REQUESTS['tools/call']!.door).toBe(MCP_TOOLS_CALL);
    expect(AGENT_REQUESTS['tools/list']!.door).toBe(MCP_TOOLS_LIST);
    for (const m of ['resources/read', 'prompts/get', 'completion/complete']) expect(AGENT_REQUESTS[m]!.door, m).toBe(MCP_READ);
    for (const m of ['resources/list', 'resources/templates/list', 'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'logging/setLevel'])
      expect(AGENT_REQUESTS[m]!.door, m).toBe(MCP_RELAYED);
    expect(Object.entries(AGENT_NOTIFICATIONS).filter(([, how]) => how === 'relay')).toEqual([['notifications/roots/list_changed', 'relay']]);
  });
});

describe('a door runs its steps in the lifecycle’s order, and its closing ones whatever became of the call', () => {
  const every = Object.fromEntries(LIFECYCLE.map((g) => [g, here(`the ${g} step`)])) as { [G in Guard]: ReturnType<typeof here> };
  const door = new Door('every guard', every);
  /** Steps that say their names as they run, `failAt` throwing, and one (send) awaited. */
  const steps = (ran: string[], failAt?: Guard) =>
    Object.fromEntries(
      LIFECYCLE.map((g) => [
        g,
        g === 'record' || g === 'observe'
          ? (_c: unknown, failure: { error: unknown } | null) => void ran.push(`${g}${failure ? `(${(failure.error as Error).message})` : ''}`)
          : g === 'send'
            ? async () => {
                await new Promise((r) => setImmediate(r));
                ran.push(g);
                if (failAt === g) throw new Error(g);
              }
            : () => {
                ran.push(g);
                if (failAt === g) throw new Error(g);
              },
      ]),
    ) as never;

  it('runs each step in turn, awaiting one that returns a promise, then the closing ones', async () => {
    const ran: string[] = [];
    await door.steps(steps(ran)).run({});
    expect(ran).toEqual([...LIFECYCLE]);
  });

  it('stops at a step that throws, still runs the closing steps with what went wrong, then throws it', async () => {
    for (const failAt of ['policy', 'send'] as const) {
      const ran: string[] = [];
      await expect(door.steps(steps(ran, failAt)).run({})).rejects.toThrow(failAt);
      const at = LIFECYCLE.indexOf(failAt);
      expect(ran).toEqual([...LIFECYCLE.slice(0, at + 1), `record(${failAt})`, `observe(${failAt})`]);
    }
  });

  it('takes exactly the steps its table names', () => {
    expect(() => LLM_SURFACE.steps({ auth: () => {} } as never)).toThrow(/its step for send is missing/);
    expect(() => LLM_SURFACE.steps({ auth: () => {}, send: () => {}, pause: () => {} } as never)).toThrow(/pause has a step but its table says skip/);
  });
});

describe('ARCHITECTURE.md’s matrix of the doors is this data', () => {
  it('lists every guard of every door as its table says it', () => {
    const cell = (e: Entry): string => (e.kind === 'here' ? '●' : e.kind === 'inside' ? `in ${e.stage}` : e.kind === 'before' ? 'endpoint' : '–');
    const columns = ['LLM call', 'LLM surface', 'tool proxy', 'MCP endpoint', 'tools/call', 'tools/list', 'MCP read', 'MCP relayed', 'MCP notification'];
    const rows = [`| guard | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`, ...LIFECYCLE.map((g) => `| \`${g}\` | ${DOORS.map((d) => cell(d.table[g])).join(' | ')} |`)];
    const doc = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
    expect(doc).toContain(rows.join('\n'));
  });
});
