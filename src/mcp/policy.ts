import type { McpServerConfig } from '../config/index.js';
import type { Micros } from '../core/money.js';
import { fold } from '../domain/policy/index.js';

// Which of a server's tools an agent may see and call (`mcp.servers.<name>.tools.allow|deny`,
// glob names), and what a call costs. Names are compared folded (NFKC, lower-case), as the
// tool policies (`policies:`) compare them: a rule and a price hold for `Delete_All` as for
// `delete_all`, and the two kinds of rule never disagree on a name.

const globCache = new Map<string, RegExp>();

/** A glob of tool names (`*` any run, `?` one character) as a whole-name pattern over folded names. */
function globRe(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    re = new RegExp(
      `^${fold(glob)
        .replace(/[.+^${}()|[\]\\/]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'u',
    );
    globCache.set(glob, re);
  }
  return re;
}

/**
 * Whether `tool` may be listed and called on this server: null when it may, else the rule that
 * refuses it (the key a user changes), said in the refusal.
 * @example refusedBy({ allow: ['search_*'], deny: [] }, 'delete_repo') // "tools.allow (search_*) does not list it"
 * @example refusedBy({ allow: null, deny: ['delete_*'] }, 'Delete_All') // "tools.deny lists it (delete_*)"
 */
export function refusedBy(s: Pick<McpServerConfig, 'allow' | 'deny'>, tool: string): string | null {
  const name = fold(tool);
  const denied = s.deny.find((g) => globRe(g).test(name));
  if (denied !== undefined) return `tools.deny lists it (${denied})`;
  if (s.allow !== null && !s.allow.some((g) => globRe(g).test(name))) return `tools.allow (${s.allow.join(', ') || 'empty'}) does not list it`;
  return null;
}

/** Each server's `tools.cost_usd` by folded name (two keys that fold alike: the higher price). */
const foldedPrices = new WeakMap<Record<string, Micros>, Map<string, Micros>>();

/**
 * What one call of `tool` costs: its own price where `tools.cost_usd` names it (in any case or
 * Unicode form), else the server's `cost_per_call_usd`.
 * @example costOf({ costPerCallMicros: 0, toolCostMicros: { delete_all: 5_000_000 } }, 'DELETE_ALL') // 5_000_000
 */
export function costOf(s: Pick<McpServerConfig, 'costPerCallMicros' | 'toolCostMicros'>, tool: string): Micros {
  let prices = foldedPrices.get(s.toolCostMicros);
  if (!prices) {
    prices = new Map();
    for (const [name, micros] of Object.entries(s.toolCostMicros)) {
      const key = fold(name);
      prices.set(key, Math.max(prices.get(key) ?? 0, micros) as Micros);
    }
    foldedPrices.set(s.toolCostMicros, prices);
  }
  return prices.get(fold(tool)) ?? s.costPerCallMicros;
}
