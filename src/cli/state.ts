import { undoStateMade } from '../auth/index.js';
import { StateManager } from '../state/index.js';

/**
 * The state file a command (`token`, `user`, `secrets`) works on, opened. `close(refused)` closes
 * it; a refused command (bad input, a name not found) leaves no state it made: a new state file, its
 * keys and folders go again (undoStateMade).
 *
 * @example
 * const { state, close } = openCommandState(config.db);
 * let refused = true;
 * try { …; refused = false; } finally { await close(refused); }
 */
export function openCommandState(db: string): { state: StateManager; close(refused: boolean): Promise<void> } {
  const undo = undoStateMade(db);
  const state = StateManager.open(db);
  return {
    state,
    close: async (refused) => {
      await state.close();
      if (refused) undo();
    },
  };
}
