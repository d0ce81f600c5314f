import { beforeAll } from 'vitest';

// vitest runs src/ through Vite's module runner, not Node's loader: a module's exports are getters
// on an object made with Object.create(null), which V8 keeps in dictionary mode, so every use of
// an imported name (a table, a const enum's member, a function) in a hot loop is a lookup by name
// and a getter's call that the optimising compiler cannot inline. The injection detector read
// 3.6 MB/s of its CPU that way against 15-16 in the same worker imported as one bundle (the product
// is one bundle: esbuild binds imports directly). An object becomes a prototype in fast mode (V8
// gives it a map of its own), and the getters behind the names are inlined like any others:
// the detector 3.6 → 16 MB/s under vitest. Nothing else changes: the same getters, the same live
// bindings, the same objects (a micro-benchmark of one imported table read 3·10^7 times: 1,905 ms
// as vitest leaves it, 216-288 ms once the object has been a prototype).
//
// Before each file's tests (its imports are evaluated by then), every module of this repository the
// worker has evaluated and not yet seen. A module imported later in a test is seen by the next
// file (with `isolate: false` its worker keeps it).

interface ModuleNode {
  file?: string | null;
  exports?: unknown;
}
interface WorkerState {
  evaluatedModules?: { idToModuleMap?: Map<string, ModuleNode> };
}

const root = `${process.cwd()}/`;
const done = new WeakSet<object>();

beforeAll(() => {
  const state = (globalThis as { __vitest_worker__?: WorkerState }).__vitest_worker__;
  const modules = state?.evaluatedModules?.idToModuleMap;
  // vitest's internals: if an upgrade moves them, say so here rather than let the suite slow down
  if (!modules) throw new Error('test/helpers/exports-setup.ts: vitest has no __vitest_worker__.evaluatedModules.idToModuleMap any more; find where its module runner keeps the evaluated modules');
  for (const node of modules.values()) {
    const exports = node.exports;
    if (typeof exports !== 'object' || exports === null || done.has(exports)) continue;
    // Only what Vite's runner made (this repository's modules): a package loaded by Node is a
    // module namespace already, or a Proxy around one.
    if (!node.file?.startsWith(root) || node.file.includes('/node_modules/')) continue;
    done.add(exports);
    Object.create(exports); // made a prototype: V8 gives it fast properties at its next hot lookup
  }
});
