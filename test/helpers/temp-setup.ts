import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.js';

// After each test file (its own afterAll hooks have stopped what it started first: this one is
// registered before them, so it runs last), the temporary folders it made with `tempDir` and did
// not remove: a file that forgot one, or failed before its cleanup, leaves nothing in /tmp.
afterAll(() => removeTempDirs());
