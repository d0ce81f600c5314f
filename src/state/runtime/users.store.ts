import { and, asc, eq, isNull } from 'drizzle-orm';
import { ConflictError } from '../../core/errors.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { users, type UserRow } from '../schema.js';
import { isUniqueViolation } from '../db-errors.js';

export type { UserRow };
export type UserRole = 'admin' | 'viewer';

/** A user as anyone but the password check sees it: never the hash. */
export type UserView = Omit<UserRow, 'passwordHash'>;

const view = ({ passwordHash: _h, ...u }: UserRow): UserView => u;

/** Named dashboard users. Every change goes through the one writer with its event. */
export class UsersStore {
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
  }

  /** Insert a user whose password is already hashed; a live user of that name → ConflictError. */
  add(row: Pick<UserRow, 'id' | 'name' | 'role' | 'passwordHash'>): UserView {
    const full: UserRow = { ...row, createdAt: new Date().toISOString(), removedAt: null };
    const role = row.role as UserRole;
    try {
      this.db.writer.now(() => this.db.orm.insert(users).values(full).run(), {
        agentId: null,
        type: 'user.added',
        severity: 'info',
        message: `User ${row.name} added (${role})`,
        data: { userId: row.id, name: row.name, role },
      });
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      throw new ConflictError(`a user named '${row.name}' already exists`);
    }
    return view(full);
  }

  /** Soft-remove the live user of that name; null when there is none. */
  remove(name: string): UserView | null {
    const row = this.liveByName(name);
    if (!row) return null;
    const now = new Date().toISOString();
    this.db.writer.now(
      () =>
        this.db.orm
          .update(users)
          .set({ removedAt: now })
          .where(and(eq(users.id, row.id), isNull(users.removedAt)))
          .run(),
      {
        agentId: null,
        type: 'user.removed',
        severity: 'info',
        message: `User ${row.name} removed`,
        data: { userId: row.id, name: row.name },
      },
    );
    return view({ ...row, removedAt: now });
  }

  /** The live user of that name, hash included (for the password check only). */
  liveByName(name: string): UserRow | null {
    return (
      this.db.orm
        .select()
        .from(users)
        .where(and(eq(users.name, name), isNull(users.removedAt)))
        .get() ?? null
    );
  }

  byId(id: string): UserView | null {
    const row = this.db.orm.select().from(users).where(eq(users.id, id)).get();
    return row ? view(row) : null;
  }

  /** Live users by name; with `removed`, removed ones too. */
  list(o: { removed?: boolean } = {}): UserView[] {
    const q = this.db.orm.select().from(users);
    return (o.removed ? q : q.where(isNull(users.removedAt))).orderBy(asc(users.name), asc(users.createdAt)).all().map(view);
  }
}
