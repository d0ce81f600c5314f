import { and, asc, eq, isNull } from 'drizzle-orm';
import { ConflictError } from '../core/errors.js';
import { first, rows, run, type Answer, type Dialect, type Mode } from './dialect.js';
import type { UserRow } from './schema.js';
import type { NewApiTokenRow } from './tokens.store.js';

export type { UserRow };
export type UserRole = 'admin' | 'viewer';

/** A user as anyone but the password check sees it: never the hash. */
export type UserView = Omit<UserRow, 'passwordHash'>;

const view = ({ passwordHash: _h, ...u }: UserRow): UserView => u;

/**
 * Named dashboard users, on the runtime's SQLite (`onSqlite`: each change through the one writer
 * with its event) or the panel's PostgreSQL (`onPostgres`): the same rows and rules, see dialect.ts.
 */
export class UsersStore<M extends Mode = Mode> {
  constructor(private readonly d: Dialect<M>) {}

  /** Insert a user whose password is already hashed; a live user of that name → ConflictError. */
  add(row: Pick<UserRow, 'id' | 'name' | 'role' | 'passwordHash'>): Answer<M, UserView> {
    const full: UserRow = { ...row, createdAt: new Date().toISOString(), removedAt: null };
    const role = row.role as UserRole;
    return this.d.write(
      function* (b, { users }) {
        yield* run(b.insert(users).values(full), () => new ConflictError(`a user named '${row.name}' already exists`));
        return view(full);
      },
      { agentId: null, type: 'user.added', severity: 'info', message: `User ${row.name} added (${role})`, data: { userId: row.id, name: row.name, role } },
    );
  }

  /**
   * Soft-remove the live user of that name and, in the same transaction, revoke the sessions its
   * password logins opened (the panel's session rows are named after their user and carry their
   * role themselves: left live, they would outlast the user until they expire); null when there
   * is none.
   */
  remove(name: string): Answer<M, UserView | null> {
    const now = new Date().toISOString();
    return this.d.write(
      function* (b, { users, apiTokens }) {
        const row = yield* first(
          b
            .update(users)
            .set({ removedAt: now })
            .where(and(eq(users.name, name), isNull(users.removedAt)))
            .returning(),
        );
        if (!row) return null;
        yield* run(
          b
            .update(apiTokens)
            .set({ revokedAt: now })
            .where(and(eq(apiTokens.kind, 'session'), eq(apiTokens.name, row.name), isNull(apiTokens.revokedAt))),
        );
        return view(row);
      },
      (removed) => (removed ? { agentId: null, type: 'user.removed', severity: 'info', message: `User ${removed.name} removed`, data: { userId: removed.id, name: removed.name } } : null),
    );
  }

  /**
   * Add a session a password login opened for the user of that id, only while the user is live:
   * its row is locked in the same transaction (PostgreSQL's FOR UPDATE), so a removal committing
   * meanwhile either waits for the session and then revokes it, or is seen and no session is made.
   * False when the user is gone. (A login checked before the removal and answered after it would
   * otherwise add a session the removal never saw, good until it expires.)
   */
  openSession(userId: string, row: NewApiTokenRow): Answer<M, boolean> {
    const { locked } = this.d;
    return this.d.write(function* (b, { users, apiTokens }) {
      const live = yield* first(
        locked(
          b
            .select({ id: users.id })
            .from(users)
            .where(and(eq(users.id, userId), isNull(users.removedAt))),
        ),
      );
      if (!live) return false;
      yield* run(b.insert(apiTokens).values({ ...row, kind: 'session' }));
      return true;
    }, null);
  }

  /** The live user of that name, hash included (for the password check only). */
  liveByName(name: string): Answer<M, UserRow | null> {
    return this.d.read((b, { users }) =>
      first(
        b
          .select()
          .from(users)
          .where(and(eq(users.name, name), isNull(users.removedAt))),
      ),
    );
  }

  byId(id: string): Answer<M, UserView | null> {
    return this.d.read(function* (b, { users }) {
      const row = yield* first(b.select().from(users).where(eq(users.id, id)));
      return row ? view(row) : null;
    });
  }

  /** Live users by name; with `removed`, removed ones too. */
  list(o: { removed?: boolean } = {}): Answer<M, UserView[]> {
    return this.d.read(function* (b, { users }) {
      const all = yield* rows(
        b
          .select()
          .from(users)
          .where(o.removed ? undefined : isNull(users.removedAt))
          .orderBy(asc(users.name), asc(users.createdAt)),
      );
      return all.map(view);
    });
  }
}
