// How the fleet page says a central budget (GET /api/budgets): who it covers, its window, the
// shares of its limit spent / leased out / unleased, its state in words, the runway at the
// current rate, and when to ask again. Pure: the Budgets panel (panels/fleet-budgets.tsx) and
// the store (fleet-store.ts) use these, test/unit/web-budgets.test.ts checks them.
import { DAY_MS, formatRoughly } from '../src/core/duration.js';
import { formatUsd } from '../src/core/money.js';
import type { BudgetView, LeaseView } from './types.js';

/** `every runtime`, `agent lead-gen`, `user ann`, `agents a, b · users ann`. */
export function covers(b: Pick<BudgetView, 'scope' | 'agents' | 'users'>): string {
  if (b.scope === 'fleet') return 'every runtime';
  if (b.scope === 'agent') return `agent ${b.agents[0] ?? '?'}`;
  if (b.scope === 'user') return `user ${b.users[0] ?? '?'}`;
  const parts = [
    b.agents.length > 0 ? `${b.agents.length === 1 ? 'agent' : 'agents'} ${b.agents.join(', ')}` : '',
    b.users.length > 0 ? `${b.users.length === 1 ? 'user' : 'users'} ${b.users.join(', ')}` : '',
  ];
  return parts.filter(Boolean).join(' · ');
}

/**
 * Whom a budget covers, its scope said once: `agent lead-gen`, `user ann`, `team: agents a, b ·
 * user ann`, `the whole fleet` (never `agent: agent lead-gen`).
 */
export function scopeLine(b: Pick<BudgetView, 'scope' | 'agents' | 'users'>): string {
  if (b.scope === 'fleet') return 'the whole fleet';
  if (b.scope === 'team') return `team: ${covers(b)}`;
  return covers(b);
}

/** Epoch ms the budget's current window ends (its next UTC midnight or 1st), null without a period. */
export function windowEnd(b: Pick<BudgetView, 'period' | 'window'>): number | null {
  if (b.period === 'day') return b.window + DAY_MS;
  if (b.period === 'month') {
    const d = new Date(b.window);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return null;
}

/** `this month (UTC), resets in 12 days`, `today (UTC), resets in 5h12m`, `no period: one window`. */
export function period(b: Pick<BudgetView, 'period' | 'window'>, now: number): string {
  const end = windowEnd(b);
  if (end === null) return 'no period: one window';
  return `${b.period === 'day' ? 'today' : 'this month'} (UTC), resets in ${formatRoughly(end - now)}`;
}

/** `$0.42/min`. */
export const perMinute = (micros: number): string => `${formatUsd(micros)}/min`;

export interface Runway {
  /** `≈ 11 min at $0.42/min`, `none left`, `—` while nothing spends. */
  text: string;
  /** The window resets before the runway ends: `outlasts this window (resets in 5h12m)`. */
  note: string | null;
}

/**
 * The runway at the current rate, counted down from when the panel answered (`at`, on the
 * server's clock) to `now` (the same clock): the moment it runs out stays put between answers.
 *
 * @example
 *   runway({ runwaySeconds: 660, ratePerMinMicros: 420_000, ... }, at, at) // { text: '≈ 11 min at $0.42/min', note: null }
 */
export function runway(b: Pick<BudgetView, 'runwaySeconds' | 'ratePerMinMicros' | 'spentMicros' | 'limitMicros' | 'period' | 'window'>, at: number, now: number): Runway {
  if (b.spentMicros >= b.limitMicros) return { text: 'none left', note: null };
  if (b.runwaySeconds === null || b.ratePerMinMicros <= 0) return { text: '—', note: null };
  const out = at + b.runwaySeconds * 1000;
  const left = out - now;
  const end = windowEnd(b);
  const note = end !== null && out > end ? `outlasts this window (resets in ${formatRoughly(end - now)})` : null;
  return { text: left <= 0 ? `none left at ${perMinute(b.ratePerMinMicros)}` : `≈ ${formatRoughly(left)} at ${perMinute(b.ratePerMinMicros)}`, note };
}

/** The bar's three parts as percentages of the limit (each 0-100, summing to at most 100). */
export interface Shares {
  spent: number;
  leased: number;
  unleased: number;
  /** Spent past the limit (late rows of a runtime taken as gone), in micro-dollars; 0 normally. */
  overMicros: number;
}

export function shares(b: Pick<BudgetView, 'limitMicros' | 'spentMicros' | 'leasedMicros'>): Shares {
  const limit = b.limitMicros;
  if (limit <= 0) return { spent: 100, leased: 0, unleased: 0, overMicros: Math.max(0, b.spentMicros) };
  const spent = Math.min(100, (b.spentMicros / limit) * 100);
  const leased = Math.min(100 - spent, (b.leasedMicros / limit) * 100);
  return { spent, leased, unleased: Math.max(0, 100 - spent - leased), overMicros: Math.max(0, b.spentMicros - limit) };
}

/** A budget's state in words and a sign, never by colour alone. */
export const STATE: Record<BudgetView['state'], { icon: string; label: string; tone: 'ok' | 'warn' | 'bad' }> = {
  ok: { icon: '●', label: 'OK', tone: 'ok' },
  warning: { icon: '▲', label: 'Warning', tone: 'warn' },
  exhausted: { icon: '⛔', label: 'Exhausted', tone: 'bad' },
};

/**
 * Whether a lease is live now (`now` on the server's clock): the panel said so when it answered
 * and its expiry has not passed since. Its runtime may still spend it.
 */
export const leaseOnline = (l: Pick<LeaseView, 'expiresAt' | 'online'>, now: number): boolean => l.online && l.expiresAt > now;

/** A lease's state in words (`now` on the server's clock): `Online`, `lease ends in 25s`; `Expired`, `2 min ago`. */
export function leaseState(l: Pick<LeaseView, 'expiresAt' | 'online'>, now: number): { online: boolean; label: string; detail: string } {
  return leaseOnline(l, now)
    ? { online: true, label: 'Online', detail: `lease ends in ${formatRoughly(l.expiresAt - now)} unless renewed` }
    : { online: false, label: 'Expired', detail: `${formatRoughly(now - l.expiresAt)} ago` };
}

/**
 * When to ask for the budgets again, on this browser's clock (`skew` = server − browser): every
 * `pollMs` while there are budgets (a lease call sends no frame, so grants, returns and waiting
 * calls between landed rows show only so), and around each live lease's expiry: a second before
 * it (a renewed lease is seen renewed before the page would call it expired), or just after it
 * (the panel's rate and waiting no longer count it). Null: nothing to wait for.
 */
export function nextAsk(budgets: readonly Pick<BudgetView, 'leases'>[], now: number, skew: number, pollMs: number): number | null {
  if (budgets.length === 0) return null;
  let next = now + pollMs;
  for (const b of budgets) {
    for (const l of b.leases) {
      const expires = l.expiresAt - skew;
      if (expires <= now) continue;
      next = Math.min(next, expires - 1000 > now + 250 ? expires - 1000 : expires + 100);
    }
  }
  return next;
}
