import { getTableColumns } from 'drizzle-orm';
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core';
import * as z from 'zod';
import * as schema from './schema.js';

// What a runtime reports to its control panel (`POST /api/telemetry`), the one contract between
// the reporter (src/report) and the panel's ingest (src/panel). A batch carries rows of the
// runtime's own tables as they are in its SQLite file (the column names of schema.ts), so the
// panel stores them under the runtime's id with the runtime's own keys: a row sent twice is one
// row there.
//
// Order and idempotency: batches are numbered from 1 per runtime, with no gap. The panel takes
// batch lastSeq + 1, answers a batch it already took (seq ≤ lastSeq) as a duplicate without
// writing anything, and refuses one from the future (seq > lastSeq + 1) with 409
// `out_of_order`, naming the sequence it expects. `GET /api/telemetry` tells a runtime where the
// panel stands (its last sequence and the highest of each key it holds), so either side can
// restart at any moment: the runtime sends again from there, and what arrives twice is dropped
// by the keys.

/** A runtime's id (the name an admin gave it): letters, digits, `.`, `_`, `-`. */
export const RUNTIME_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A central budget's id (the admin's name for it): lower-case letters, digits, `.`, `_`, `-`. */
export const BUDGET_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/**
 * The most central budgets one call may be charged to (`llm_requests.budgets`): above the most a
 * panel holds (MAX_BUDGETS), so no budget an admin can set makes a runtime's rows unreportable.
 */
export const MAX_BUDGET_KEYS = 64;
/** The most central budgets one panel holds. */
export const MAX_BUDGETS = 50;
/** `<budget id>@<window start, epoch ms>`: one central budget window a call was charged to. */
const BUDGET_KEY = /^([a-z0-9][a-z0-9._-]{0,62})@(0|[1-9]\d{0,15})$/;

/** One key of a row's `budgets` tag. */
export interface BudgetKey {
  budget: string;
  window: number;
}

/**
 * A row's `budgets` tag read strictly: null, or a JSON array of at most 16 distinct keys
 * `<id>@<digits>`. Anything else: a string saying what is wrong (the batch is refused).
 *
 * @example
 *   budgetKeys('["sales-team@1764547200000"]') // [{ budget: 'sales-team', window: 1764547200000 }]
 */
export function budgetKeys(tag: string | null): BudgetKey[] | string {
  if (tag === null) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(tag);
  } catch {
    return 'must be a JSON array of budget keys ("<budget>@<window start ms>") or null';
  }
  if (!Array.isArray(parsed)) return 'must be a JSON array of budget keys ("<budget>@<window start ms>") or null';
  if (parsed.length > MAX_BUDGET_KEYS) return `names ${parsed.length} budgets; a call is charged to at most ${MAX_BUDGET_KEYS}`;
  const out: BudgetKey[] = [];
  const seen = new Set<string>();
  for (const k of parsed) {
    const m = typeof k === 'string' ? BUDGET_KEY.exec(k) : null;
    const window = m ? Number(m[2]) : Number.NaN;
    if (!m || !Number.isSafeInteger(window)) return `${JSON.stringify(k)} is not a budget key "<budget>@<window start ms>" (a budget id is 1-63 of a-z, 0-9, ".", "_", "-")`;
    if (seen.has(k as string)) return `names ${JSON.stringify(k)} twice`;
    seen.add(k as string);
    out.push({ budget: m[1]!, window });
  }
  return out;
}

/** At most this many rows of all kinds in one batch, and this many bytes of JSON. */
export const TELEMETRY_MAX_ROWS = 5_000;
export const TELEMETRY_MAX_BYTES = 8 * 1024 * 1024;
/** The most one reported call may cost ($1,000,000) or count in tokens (10^12): sums of a whole batch stay exact. */
const MAX_CALL_MICROS = 1_000_000_000_000;
const MAX_CALL_TOKENS = 1_000_000_000_000;

/** What a column's value may be refined from: a number column's schema, a text column's, a boolean's. */
type ColumnSchema<V> = [NonNullable<V>] extends [number] ? z.ZodNumber : [NonNullable<V>] extends [boolean] ? z.ZodBoolean : z.ZodString;
type Refine<Row> = { [K in keyof Row]?: (c: ColumnSchema<Row[K]>) => z.ZodType };

/**
 * A table's row as the runtime's SQLite file holds it, no other key allowed (typed as the table's
 * row): each column's type and nullability as schema.ts declares it, the way drizzle-zod's
 * `createSelectSchema` reads these SQLite columns (an integer a safe integer, a real within ±2^47,
 * a text with an enum one of its values, a nullable column also null), then a column's refinement.
 * Not drizzle-zod itself: its default `zodInstance` is the whole `z` namespace, which puts all of
 * zod (its 40 locales, JSON Schema) in the bundle and ~5 MB in an idle server's RSS
 * (docs/benchmarks-history.md, Memory). A column type not named here is refused when the module loads.
 */
function row<T extends SQLiteTable>(table: T, refine: Refine<T['$inferSelect']> = {}): z.ZodType<T['$inferSelect']> {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, column] of Object.entries(getTableColumns(table)) as Array<[string, SQLiteColumn]>) {
    let schema: z.ZodType;
    if (column.columnType === 'SQLiteText') {
      const values = (column as SQLiteColumn & { enumValues?: [string, ...string[]] }).enumValues;
      schema = values?.length ? z.enum(values) : z.string();
    } else if (column.columnType === 'SQLiteInteger') schema = z.int().gte(Number.MIN_SAFE_INTEGER).lte(Number.MAX_SAFE_INTEGER);
    else if (column.columnType === 'SQLiteBoolean') schema = z.boolean();
    else if (column.columnType === 'SQLiteReal')
      schema = z
        .number()
        .gte(-(2 ** 47))
        .lte(2 ** 47 - 1);
    else throw new Error(`telemetry: ${table._.name}.${column.name} is a ${column.columnType}, which a reported row cannot carry yet`);
    const refined = (refine as Record<string, ((c: z.ZodType) => z.ZodType) | undefined>)[key]?.(schema) ?? schema;
    shape[key] = column.notNull ? refined : refined.nullable();
  }
  return z.strictObject(shape) as unknown as z.ZodType<T['$inferSelect']>;
}

export const telemetryBatch = z
  .object({
    runtime: z.string().regex(RUNTIME_ID, 'a runtime id is 1-63 letters, digits, ".", "_" or "-"'),
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** ISO time the runtime built the batch (its clock; shown, never trusted for order). */
    sentAt: z.string().max(40),
    /** Rows the runtime still has to send after this batch ("behind by N" on the fleet page). */
    behind: z.number().int().min(0).default(0),
    /** The runtime's host name and iron-cage version, for the fleet page. */
    hostname: z.string().max(255).optional(),
    version: z.string().max(40).optional(),
    agents: z.array(row(schema.agents)).default([]),
    events: z.array(row(schema.events)).default([]),
    llmRequests: z
      .array(
        row(schema.llmRequests, {
          // Money and counts the panel sums: never negative, never near 2^53 (a sum of 5,000 must stay exact).
          costMicros: (c) => c.min(0).max(MAX_CALL_MICROS),
          reservedMicros: (c) => c.min(0).max(MAX_CALL_MICROS),
          promptTokens: (c) => c.min(0).max(MAX_CALL_TOKENS),
          completionTokens: (c) => c.min(0).max(MAX_CALL_TOKENS),
          // Absent from a runtime of a version before central budgets: none.
          budgets: (c) =>
            c
              .max(8192)
              .nullish()
              .transform((v) => v ?? null),
          // Absent from a runtime of a version before cost per step: none.
          step: (c) => c.nullish().transform((v) => v ?? null),
          chain: (c) =>
            c
              .max(256)
              .nullish()
              .transform((v) => v ?? null),
        }),
      )
      .default([]),
    toolCalls: z.array(row(schema.toolCalls)).default([]),
    breakers: z.array(row(schema.breakers)).default([]),
  })
  .strict()
  .superRefine((b, ctx) => {
    const rows = b.agents.length + b.events.length + b.llmRequests.length + b.toolCalls.length + b.breakers.length;
    if (rows > TELEMETRY_MAX_ROWS) ctx.addIssue({ code: 'custom', message: `a batch holds at most ${TELEMETRY_MAX_ROWS} rows, this one ${rows}: send it in parts` });
    if (b.llmRequests.some((r) => r.status === 'pending')) ctx.addIssue({ code: 'custom', path: ['llmRequests'], message: 'a pending call is reported once it has ended' });
    for (const [i, r] of b.llmRequests.entries()) {
      const keys = budgetKeys(r.budgets);
      if (typeof keys === 'string') {
        ctx.addIssue({ code: 'custom', path: ['llmRequests', i, 'budgets'], message: `${keys} (call id ${r.id})` });
        break;
      }
    }
    // One row per key in a batch: a key sent twice in one batch would be stored once but summed twice.
    for (const [kind, key] of [
      ['events', 'seq'],
      ['llmRequests', 'id'],
      ['toolCalls', 'id'],
    ] as const) {
      const seen = new Set<number>();
      for (const r of b[kind] as unknown as ReadonlyArray<Record<typeof key, number>>) {
        if (seen.has(r[key])) {
          ctx.addIssue({ code: 'custom', path: [kind], message: `${kind} ${key} ${r[key]} appears twice in this batch` });
          break;
        }
        seen.add(r[key]);
      }
    }
  });

export type TelemetryBatch = z.infer<typeof telemetryBatch>;
export type TelemetryBatchInput = z.input<typeof telemetryBatch>;

/** The panel's answer to a batch it took (or had taken: `duplicate`). */
export interface TelemetryAck {
  runtime: string;
  seq: number;
  duplicate: boolean;
  /** Rows new to the panel, by kind (a row it already held is not counted). */
  stored: { agents: number; events: number; llmRequests: number; toolCalls: number; breakers: number };
  /**
   * A busy panel's pace: wait at least this long (ms) before the next batch, and send what has
   * come meanwhile in it (the rows wait on the runtime's disk). Absent: the runtime's own pace.
   */
  paceMs?: number;
}

/** `GET /api/telemetry`: where the panel stands for the calling runtime. */
export interface TelemetryHello {
  runtime: string;
  lastSeq: number;
  /** The highest of each of the runtime's keys the panel holds: send what is above. */
  cursor: TelemetryCursor;
}

export interface TelemetryCursor {
  eventSeq: number;
  llmRequestId: number;
  toolCallId: number;
}

/**
 * A batch's JSON text with every NUL character made U+FFFD, as a decoder shows a character it
 * cannot keep: PostgreSQL's text holds no NUL (SQLite's does, and an agent may print one), and one
 * such row must not stop a runtime's whole report. In JSON text a NUL can only be the escape
 * `\u0000` after an even number of backslashes (raw control characters are not JSON).
 *
 * @example
 *   telemetryBatch.parse(JSON.parse(withoutNul(body)));
 */
export function withoutNul(json: string): string {
  return json.includes('\\u0000') ? json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd') : json;
}
