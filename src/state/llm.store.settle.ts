import { LlmStore as UnguardedLlmStore } from './llm.store.js';
import { storeDb, type StateManager } from './manager.js';

// TEMPORARY, until the money path's rewrite of llm.store.ts lands: its settleInterrupted writes
// outside the writer, which the connection refuses now (see Writer). This runs that one write
// inside the writer. Once settleInterrupted goes through the writer itself, delete this file and
// export the store from llm.store.ts again (state/index.ts).
export class LlmStore extends UnguardedLlmStore {
  private readonly state: StateManager;

  constructor(state: StateManager) {
    super(state);
    this.state = state;
  }

  override settleInterrupted(): number {
    return storeDb(this.state).writer.now(() => super.settleInterrupted(), null).result;
  }
}
