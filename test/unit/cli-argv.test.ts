import { describe, expect, it } from 'vitest';
import { actionsOf, optionOfAnotherAction } from '../../src/cli/argv.js';

// Which actions an option belongs to, read from its help (src/cli/program.ts): the CLI refuses
// an option given to another action rather than ignore it.
describe('an option of another action', () => {
  it('reads every "for …:" clause of an option\'s help', () => {
    expect(actionsOf('For create: the agent budget in dollars')).toEqual(['create']);
    expect(actionsOf('For add and rm: the user name')).toEqual(['add', 'rm']);
    expect(actionsOf('For set, rotate, rm: the value')).toEqual(['set', 'rotate', 'rm']);
    expect(actionsOf('For create [default: agent]; metrics: a scraper')).toEqual(['create']);
    expect(actionsOf("For create: the token's name (1-64 letters); for revoke: its id or name")).toEqual(['create', 'revoke']);
    // Help that names no action, or another command, reserves it for none.
    expect(actionsOf('For panel runtime, panel budget and panel link: machine-readable output')).toBeNull();
    expect(actionsOf('For set --team: agent names')).toBeNull();
    expect(actionsOf('For --reveal: why, for the record')).toBeNull();
    expect(actionsOf(undefined)).toBeNull();
  });

  it('finds the first option typed (as typed: --no-x, camelCase, =value) that the action does not take', () => {
    const help = { role: 'For create [default: agent]', name: 'For create: a name; for revoke: its id or name', json: 'machine-readable output' };
    expect(optionOfAnotherAction(['token', 'list', '--role', 'admin'], 'list', help)).toEqual({ name: 'role', actions: ['create'] });
    expect(optionOfAnotherAction(['token', 'list', '--json', '--role=admin'], 'list', help)).toEqual({ name: 'role', actions: ['create'] });
    expect(optionOfAnotherAction(['token', 'revoke', '--name', 'ci'], 'revoke', help)).toBeNull();
    expect(optionOfAnotherAction(['token', 'create', '--role', 'viewer', '--name', 'ci'], 'create', help)).toBeNull();
    // What follows `--` is the agent's.
    expect(optionOfAnotherAction(['token', 'list', '--', '--role', 'x'], 'list', help)).toBeNull();
  });
});
