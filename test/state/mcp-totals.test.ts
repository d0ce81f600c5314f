import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { McpStore, schemaVersion, StateManager, ToolsStore, type ToolCallInput } from '../../src/state/index.js';
import { closeSqlite, sqliteOf } from '../helpers/db.js';
import { mcpCallRow } from '../helpers/mcp.js';
import { tempDir } from '../helpers/runtime.js';

// mcp_totals (migration 0026): the MCP tools/call rows of tool_calls counted per server, tool and
// agent by a trigger in the statement that inserts each row, and counted once from the rows an
// older database already held. What the store answers must equal the rows summed by hand.

const row = mcpCallRow;

/** Calls of every kind a session records (src/mcp/record.ts), two agents, and rows that are not MCP calls. */
const ROWS: ToolCallInput[] = [
  row({ service: 'web', path: 'echo' }),
  row({ service: 'web', path: 'echo', ts: '2026-11-23T10:05:00.000Z' }),
  row({ service: 'web', path: 'echo', agentId: 'ag-2', ts: '2026-11-23T10:01:00.000Z' }),
  row({ service: 'web', path: 'fails', reason: 'tool_error' }),
  row({ service: 'web', path: 'slow', status: 504, tier: 'failed', reason: 'timeout' }),
  row({ service: 'web', path: 'slow', status: 503, tier: 'failed', reason: 'circuit_open', agentId: 'ag-2' }),
  row({ service: 'web', path: 'delete_repo', status: 403, tier: null, reason: 'not_allowed' }),
  row({ service: 'web', path: 'contact', status: 403, tier: null, reason: 'pii_blocked' }),
  row({ service: 'web', path: 'weather', status: 402, tier: null, reason: 'budget', agentId: 'ag-2' }),
  row({ service: 'files', path: 'dir/read', status: 429, tier: null, reason: 'rate_limited' }),
  // A tool-proxy call to a service of the same name, and a row with no agent: neither is an MCP call of an agent.
  row({ service: 'web', path: '/echo', method: 'GET' }),
  row({ service: 'web', path: 'echo', agentId: null }),
];

/** The rows summed by hand, as `McpStore.tools` answers (cost 0: no ledger rows here). */
function byHand(rows: readonly ToolCallInput[], agentId: string | null) {
  const out = new Map<string, { server: string; tool: string; calls: number; errors: number; refusals: number; lastTs: string | null; costMicros: number }>();
  for (const r of rows) {
    if (r.method !== 'tools/call' || r.agentId === null || (agentId !== null && r.agentId !== agentId)) continue;
    const key = `${r.service}/${r.path}`;
    const x = out.get(key) ?? { server: r.service, tool: r.path, calls: 0, errors: 0, refusals: 0, lastTs: null, costMicros: 0 };
    out.set(key, x);
    x.calls++;
    if (r.tier === null) x.refusals++;
    else if (r.status >= 400 || r.reason === 'tool_error') x.errors++;
    if (x.lastTs === null || r.ts > x.lastTs) x.lastTs = r.ts;
  }
  return [...out.values()].sort((a, b) => (a.server === b.server ? (a.tool < b.tool ? -1 : 1) : a.server < b.server ? -1 : 1));
}

describe('mcp_totals', () => {
  it('counts each MCP call in the statement that writes its row: calls, errors, refusals, the latest call, per server, tool and agent', async () => {
    const { dir, cleanup } = tempDir();
    const state = StateManager.open(join(dir, 's.db'));
    try {
      const tools = new ToolsStore(state);
      await Promise.all(ROWS.map((r) => tools.recordCall(r)));
      const store = new McpStore(state);
      expect(store.tools(['web', 'files'], null)).toEqual(byHand(ROWS, null));
      expect(store.tools(['web', 'files'], null).find((t) => t.tool === 'echo')).toEqual({
        server: 'web',
        tool: 'echo',
        calls: 3,
        errors: 0,
        refusals: 0,
        lastTs: '2026-11-23T10:05:00.000Z',
        costMicros: 0,
      });
      for (const agent of ['ag-1', 'ag-2', 'ag-3']) expect(store.tools(['web', 'files'], agent), agent).toEqual(byHand(ROWS, agent));
      // Only the servers asked for.
      expect(store.tools(['files'], null).map((t) => t.tool)).toEqual(['dir/read']);
      expect(store.tools([], null)).toEqual([]);
      // A charge in the ledger: the cost of its tool, and a tool known only from its charges (its calls' rows gone) still shows.
      const db = sqliteOf(state);
      const charge = db.prepare("INSERT INTO llm_requests (ts, agent_id, endpoint, provider, model, status, cost_micros) VALUES (?, ?, 'mcp', 'mcp', ?, ?, ?)");
      charge.run('2026-11-23T10:00:00.000Z', 'ag-1', 'web/echo', 'ok', 2_000);
      charge.run('2026-11-23T10:00:00.000Z', 'ag-2', 'web/echo', 'ok', 2_000);
      charge.run('2026-11-23T10:00:00.000Z', 'ag-1', 'web/slow', 'error', 2_000);
      charge.run('2026-11-23T10:00:00.000Z', 'ag-1', 'files/dir/read', 'ok', 500);
      charge.run('2026-11-23T10:00:00.000Z', 'ag-1', 'web/pruned', 'ok', 700);
      // An LLM call and another server's charge count for none of these.
      db.prepare("INSERT INTO llm_requests (ts, agent_id, endpoint, provider, model, status, cost_micros) VALUES (?, 'ag-1', 'chat', 'openai', 'web/echo', 'ok', 9999)").run(
        '2026-11-23T10:00:00.000Z',
      );
      charge.run('2026-11-23T10:00:00.000Z', 'ag-1', 'other/echo', 'ok', 9_999);
      const all = store.tools(['web', 'files'], null);
      expect(all.map((t) => [t.server, t.tool, t.calls, t.costMicros])).toEqual([
        ['files', 'dir/read', 1, 500],
        ['web', 'contact', 1, 0],
        ['web', 'delete_repo', 1, 0],
        ['web', 'echo', 3, 4_000],
        ['web', 'fails', 1, 0],
        ['web', 'pruned', 0, 700],
        ['web', 'slow', 2, 2_000],
        ['web', 'weather', 1, 0],
      ]);
      expect(all.find((t) => t.tool === 'pruned')).toMatchObject({ errors: 0, refusals: 0, lastTs: null });
      expect(store.tools(['web'], 'ag-2').map((t) => [t.tool, t.calls, t.costMicros])).toEqual([
        ['echo', 1, 2_000],
        ['slow', 1, 0],
        ['weather', 1, 0],
      ]);
    } finally {
      closeSqlite(state.path);
      await state.close();
      cleanup();
    }
  });

  it('counts, once, the MCP calls an older database already held (migration 0026)', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 's.db');
    try {
      const first = StateManager.open(path);
      await Promise.all(ROWS.map((r) => new ToolsStore(first).recordCall(r)));
      await first.close();
      // The file as it was before 0026: its rows, no count of them and no trigger.
      const raw = new Database(path);
      raw.exec('DROP TRIGGER tool_calls_mcp; DROP TABLE mcp_totals;');
      // The ledger's refusal of DELETE, which 0027 adds.
      raw.exec('DROP TRIGGER llm_requests_no_delete;');
      const journal = JSON.parse(readFileSync(join(import.meta.dirname, '../../src/state/migrations/sqlite/meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
      const at = journal.entries.findIndex((e) => e.tag.endsWith('_mcp_totals'));
      expect(at).toBeGreaterThan(0);
      raw.pragma(`user_version = ${schemaVersion() - (journal.entries.length - at)}`);
      raw.close();
      const again = StateManager.open(path);
      try {
        expect(new McpStore(again).tools(['web', 'files'], null)).toEqual(byHand(ROWS, null));
        // And from then on each new call is counted by the trigger, on top.
        const more = row({ service: 'web', path: 'echo', ts: '2026-11-23T11:00:00.000Z' });
        await new ToolsStore(again).recordCall(more);
        expect(new McpStore(again).tools(['web'], null).find((t) => t.tool === 'echo')).toMatchObject({ calls: 4, lastTs: '2026-11-23T11:00:00.000Z' });
      } finally {
        await again.close();
      }
    } finally {
      cleanup();
    }
  });
});
