import { and, asc, eq, isNull } from 'drizzle-orm';
import { ConflictError } from '../../core/errors.js';
import type { PanelDb } from './pg.js';
import { users } from './schema-pg.js';
import type { UserRow, UserView } from '../runtime/users.store.js';
import { isUniqueViolation } from '../db-errors.js';

const view = ({ passwordHash: _h, ...u }: UserRow): UserView => u;

/**
 * The control panel's named users in PostgreSQL: the rows and rules of UsersStore (SQLite), each
 * method answering with a promise, so the password check, login and /api/users work on either.
 */
export class PgUsersStore {
  constructor(private readonly db: PanelDb) {}

  /** Insert a user whose password is already hashed; a live user of that name → ConflictError. */
  async add(row: Pick<UserRow, 'id' | 'name' | 'role' | 'passwordHash'>): Promise<UserView> {
    const full: UserRow = { ...row, createdAt: new Date().toISOString(), removedAt: null };
    try {
      await this.db.insert(users).values(full);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      throw new ConflictError(`a user named '${row.name}' already exists`);
    }
    return view(full);
  }

  /** Soft-remove the live user of that name; null when there is none. */
  async remove(name: string): Promise<UserView | null> {
    const now = new Date().toISOString();
    const [row] = await this.db
      .update(users)
      .set({ removedAt: now })
      .where(and(eq(users.name, name), isNull(users.removedAt)))
      .returning();
    return row ? view(row) : null;
  }

  /** The live user of that name, hash included (for the password check only). */
  async liveByName(name: string): Promise<UserRow | null> {
    const [row] = await this.db
      .select()
      .from(users)
      .where(and(eq(users.name, name), isNull(users.removedAt)))
      .limit(1);
    return row ?? null;
  }

  async byId(id: string): Promise<UserView | null> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row ? view(row) : null;
  }

  /** Live users by name; with `removed`, removed ones too. */
  async list(o: { removed?: boolean } = {}): Promise<UserView[]> {
    const q = this.db.select().from(users);
    const rows = await (o.removed ? q : q.where(isNull(users.removedAt))).orderBy(asc(users.name), asc(users.createdAt));
    return rows.map(view);
  }

  /** How many live users there are (the panel says at start when there is none). */
  async count(): Promise<number> {
    return (await this.list()).length;
  }
}
