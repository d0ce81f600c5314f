import { and, eq, inArray, sql } from 'drizzle-orm';
import { storeDb, type StoreDb, type StateManager } from './manager.js';
import { MCP_PROVIDER } from '../schema.js';
import { llmTotals, mcpTotals } from './schema-runtime.js';

// What the dashboard shows of each MCP server's tools (GET /api/mcp/servers): their calls,
// errors, refusals and latest call from `mcp_totals` (kept by the trigger on tool_calls, migration
// 0026), their cost from the ledger's rollup `llm_totals` (a priced call's row is provider `mcp`,
// model `<server>/<tool>`). Both read by key or over rollup rows, never over the call rows.

/** One tool of one server as its calls and the ledger have it. */
export interface McpToolTotals {
  server: string;
  tool: string;
  calls: number;
  errors: number;
  refusals: number;
  /** The latest call's time (ISO); null for a tool known only from the ledger. */
  lastTs: string | null;
  costMicros: number;
}

export class McpStore {
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
  }

  /**
   * The tools of `servers` that have been called (or charged), summed over every agent, or over
   * `agentId`'s calls only; by server, then tool.
   *
   * @example
   *   new McpStore(state).tools(['github'], null) // [{ server: 'github', tool: 'create_issue', calls: 3, errors: 1, refusals: 0, lastTs: '…', costMicros: 15000 }]
   */
  tools(servers: readonly string[], agentId: string | null): McpToolTotals[] {
    if (servers.length === 0) return [];
    const m = mcpTotals;
    const counted = this.db.orm
      .select({
        server: m.server,
        tool: m.tool,
        calls: sql<number>`sum(${m.calls})`,
        errors: sql<number>`sum(${m.errors})`,
        refusals: sql<number>`sum(${m.refusals})`,
        lastTs: sql<string>`max(${m.lastTs})`,
      })
      .from(m)
      .where(and(inArray(m.server, [...servers]), agentId === null ? undefined : eq(m.agentId, agentId)))
      .groupBy(m.server, m.tool)
      .all();
    const g = llmTotals;
    // Every status: a call that was sent is charged whether or not it succeeded.
    const charged = this.db.orm
      .select({ model: g.model, costMicros: sql<number>`sum(${g.costMicros})` })
      .from(g)
      .where(and(eq(g.provider, MCP_PROVIDER), agentId === null ? undefined : eq(g.agentId, agentId)))
      .groupBy(g.model)
      .all();
    const out = new Map<string, McpToolTotals>();
    for (const r of counted) out.set(`${r.server}/${r.tool}`, { ...r, costMicros: 0 });
    const wanted = new Set(servers);
    for (const c of charged) {
      // `<server>/<tool>`: a server's name holds no slash (SERVICE_NAME), a tool's may.
      const cut = c.model.indexOf('/');
      const server = c.model.slice(0, cut);
      if (cut < 0 || !wanted.has(server)) continue;
      const known = out.get(c.model);
      if (known) known.costMicros = c.costMicros;
      else out.set(c.model, { server, tool: c.model.slice(cut + 1), calls: 0, errors: 0, refusals: 0, lastTs: null, costMicros: c.costMicros });
    }
    return [...out.values()].sort((a, b) => (a.server === b.server ? (a.tool < b.tool ? -1 : a.tool > b.tool ? 1 : 0) : a.server < b.server ? -1 : 1));
  }
}
