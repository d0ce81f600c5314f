// What a database error says, read the same way by every store, SQLite's and PostgreSQL's.

/** A PostgreSQL error's SQLSTATE: node-postgres puts it on the error, drizzle on the error it wraps it in (`cause`). */
export const pgCode = (e: unknown): string | undefined => (e as { code?: string }).code ?? (e as { cause?: { code?: string } }).cause?.code;

/**
 * A write refused because a unique key already holds its value: SQLite's
 * `SQLITE_CONSTRAINT_UNIQUE`, or PostgreSQL's `23505` on the error or on the one drizzle wrapped.
 *
 * @example
 *   try { insert(row); } catch (e) { if (!isUniqueViolation(e)) throw e; return 'taken'; }
 */
export const isUniqueViolation = (e: unknown): boolean => {
  const code = (e as { code?: string }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505' || (e as { cause?: { code?: string } }).cause?.code === '23505';
};
