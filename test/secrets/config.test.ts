import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { tempDir } from '../helpers/runtime.js';

describe('the secrets environment and vault config', () => {
  it('layers environment: config file < IRON_CAGE_ENV < --env, and validates each', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'iron-cage.yaml'), 'environment: staging\nsecrets:\n  expose_provider_keys: true\n');
      expect(loadConfig({ cwd: dir, env: {} })).toMatchObject({ environment: 'staging', secrets: { exposeProviderKeys: true } });
      expect(loadConfig({ cwd: dir, env: { IRON_CAGE_ENV: 'production' } }).environment).toBe('production');
      expect(loadConfig({ cwd: dir, env: { IRON_CAGE_ENV: 'production' }, flags: { env: 'qa' } }).environment).toBe('qa');
      expect(loadConfig({ cwd: '/', env: {} })).toMatchObject({ environment: 'development', secrets: { exposeProviderKeys: false } });
      expect(() => loadConfig({ cwd: dir, env: { IRON_CAGE_ENV: 'Prod!' } })).toThrow(/^IRON_CAGE_ENV: must be 1-64 characters/);
      expect(() => loadConfig({ cwd: dir, env: {}, flags: { env: '../x' } })).toThrow(/^--env: must be 1-64/);
      writeFileSync(join(dir, 'iron-cage.yaml'), 'secrets:\n  expose: true\n');
      expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/secrets\.expose/);
    } finally {
      cleanup();
    }
  });
});
