import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { printedCommand, selfCommand, shellWord } from '../../src/core/invocation.js';
import { renewCommand } from '../../src/auth/index.js';
import { ROOT } from '../helpers/runtime.js';

// Every command the product prints is written as it was started, so it works
// as printed (the commands themselves are run in test/integration/printed-commands.test.ts).

describe('how iron-cage was started', () => {
  const bin = join(ROOT, 'bin', 'iron-cage.js');
  it('is `npx iron-cage` through npx, the installed command through its link, `node <script>` for our own script', () => {
    expect(selfCommand({ npm_command: 'exec' }, ['node', bin], ROOT)).toBe('npx iron-cage');
    expect(selfCommand({}, ['node', '/usr/local/bin/iron-cage'], ROOT)).toBe('iron-cage');
    expect(selfCommand({}, ['node', bin], ROOT)).toBe('node bin/iron-cage.js');
    // Run from a folder the script is not under (wherever the clone is: under /tmp too), its path as it is.
    expect(selfCommand({}, ['node', join(ROOT, 'dist', 'cli.js')], join(ROOT, 'docs'))).toBe(`node ${join(ROOT, 'dist', 'cli.js')}`);
    // Inside another program (a test runner, an embedding): the installed command.
    expect(selfCommand({ npm_command: 'test' }, ['node', join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')], ROOT)).toBe('iron-cage');
  });

  it('quotes what a shell would split and leaves out flags with no value', () => {
    expect(shellWord("/tmp/a b's.db")).toBe(`'/tmp/a b'\\''s.db'`);
    expect(printedCommand('serve', { '--db': '/tmp/a b.db', '--port': undefined }, 'npx iron-cage')).toBe("npx iron-cage serve --db '/tmp/a b.db'");
  });

  it('names a state file to whoever holds a refused link only on loopback, and the port and address only when not the defaults', () => {
    const self = selfCommand();
    expect(renewCommand('dashboard', 'http://127.0.0.1:8080', { '--db': 'x.db' })).toBe(`${self} dashboard --db x.db`);
    expect(renewCommand('dashboard', 'http://127.0.0.1:9000', { '--db': 'x.db' })).toBe(`${self} dashboard --db x.db --port 9000`);
    expect(renewCommand('panel link', 'http://10.0.0.5:8090', { '--database': 'postgres://u@db/ic' })).toBe(`${self} panel link --port 8090 --host 10.0.0.5`);
    expect(renewCommand('panel link', 'http://10.0.0.5:8090', { '--database': 'postgres://u@db/ic' }, true)).toBe(`${self} panel link --database postgres://u@db/ic --port 8090 --host 10.0.0.5`);
  });
});
