import type { McpServerConfig } from '../config/index.js';
import type { Micros } from '../core/money.js';

// Which of a server's tools an agent may see and call (`mcp.servers.<name>.tools.allow|deny`,
// glob names), and what a call costs.

const globCache = new Map<string, RegExp>();

/** A glob of tool names (`*` any run, `?` one character) as a whole-name pattern. */
function globRe(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    re = new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\/]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    globCache.set(glob, re);
  }
  return re;
}

/**
 * Whether `tool` may be listed and called on this server: null when it may, else the rule that
 * refuses it (the key a user changes), said in the refusal.
 * @example refusedBy({ allow: ['search_*'], deny: [] }, 'delete_repo') // "tools.allow (search_*) does not list it"
 */
export function refusedBy(s: Pick<McpServerConfig, 'allow' | 'deny'>, tool: string): string | null {
  const denied = s.deny.find((g) => globRe(g).test(tool));
  if (denied !== undefined) return `tools.deny lists it (${denied})`;
  if (s.allow !== null && !s.allow.some((g) => globRe(g).test(tool))) return `tools.allow (${s.allow.join(', ') || 'empty'}) does not list it`;
  return null;
}

/** What one call of `tool` costs: its own price where `tools.cost_usd` names it, else the server's `cost_per_call_usd`. */
export function costOf(s: Pick<McpServerConfig, 'costPerCallMicros' | 'toolCostMicros'>, tool: string): Micros {
  return Object.hasOwn(s.toolCostMicros, tool) ? s.toolCostMicros[tool]! : s.costPerCallMicros;
}
