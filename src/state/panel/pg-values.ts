import { sql, type SQL } from 'drizzle-orm';

// PostgreSQL's values as the panel's stores read and order them.

/** A bigint aggregate as a number: PostgreSQL's sum(bigint) is numeric, node-postgres reads int8 as text. */
export const total = (col: SQL | SQL.Aliased | unknown) => sql<number>`coalesce(sum(${col}), 0)::bigint`.mapWith(Number);
/** `total` over the rows matching `cond` only. */
export const totalWhere = (col: unknown, cond: SQL | undefined) => sql<number>`coalesce(sum(${col}) filter (where ${cond}), 0)::bigint`.mapWith(Number);
/** A bigint expression (a count) as a number. */
export const int = (expr: SQL) => sql<number>`(${expr})::bigint`.mapWith(Number);

/** Code-point order, as PostgreSQL's C collation sorts (and far cheaper than localeCompare). */
export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
