import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemaVersion, StateManager } from '../../src/state/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, tempDir } from '../helpers/runtime.js';

// A provider that gives the same response id twice (one agent's turn must never be another's): the fake upstream answers
// every Responses call `resp_fake`. Stored turns are keyed per agent, so each agent's turn with
// that id is kept, and its GET, input_items and continuation answer, through the official client;
// the same agent given the id again keeps the newer turn. And a file from before keeps its turns.

const llm = useFakeLlm();

describe('a response id the provider gives again', () => {
  it("keeps each agent's turn of that id: both GET it and continue from it; the same agent keeps its newer turn", async () => {
    const t = await startTestRuntime({ config: { gateway: llm.gateway({ timeoutMs: 2000 }) } });
    try {
      const client = async (name: string) => new OpenAI({ apiKey: (await agentToken(t, { name })).token, baseURL: `${t.rt.url}/v1`, maxRetries: 0 });
      const ann = await client('ann');
      const bob = await client('bob');
      llm.answer({ text: 'for ann' });
      const a = await ann.responses.create({ model: 'gpt-4o', input: 'ann asks' });
      llm.answer({ text: 'for bob' });
      const b = await bob.responses.create({ model: 'gpt-4o', input: 'bob asks' });
      expect(a.id).toBe('resp_fake');
      expect(b.id).toBe('resp_fake');
      // Each reads its own turn.
      expect((await ann.responses.retrieve('resp_fake')).output_text).toBe('for ann');
      expect((await bob.responses.retrieve('resp_fake')).output_text).toBe('for bob');
      const items = async (c: OpenAI) => (await c.responses.inputItems.list('resp_fake')).data.map((i) => JSON.stringify(i));
      expect((await items(ann)).join()).toContain('ann asks');
      expect((await items(bob)).join()).toContain('bob asks');
      expect((await items(bob)).join()).not.toContain('ann asks');
      // Each continues from its own: the upstream gets that agent's context, not the other's.
      llm.answer({ text: 'bob again' });
      await bob.responses.create({ model: 'gpt-4o', input: 'and then?', previous_response_id: 'resp_fake' });
      const sent = JSON.stringify(llm.requests.at(-1)!.body);
      expect(sent).toContain('bob asks');
      expect(sent).toContain('for bob');
      expect(sent).not.toContain('ann asks');
      // That continuation came back as resp_fake too: bob's newer turn replaces his older one, and is what he reads and continues.
      expect((await bob.responses.retrieve('resp_fake')).output_text).toBe('bob again');
      expect((await items(bob)).join()).toContain('and then?');
      expect((await ann.responses.retrieve('resp_fake')).output_text).toBe('for ann');
      // Deleting one agent's leaves the other's.
      await bob.responses.delete('resp_fake');
      await expect(bob.responses.retrieve('resp_fake')).rejects.toMatchObject({ status: 404 });
      expect((await ann.responses.retrieve('resp_fake')).output_text).toBe('for ann');
    } finally {
      await t.stop();
    }
  }, 60_000);

  it('a state file from before keeps its stored turns and their items through the upgrade', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.dir, 'iron_state.db');
      await StateManager.open(path).close();
      const raw = new Database(path);
      // The tables as migration 0022 left them: one id for all agents.
      raw.exec(`DROP TABLE response_items; DROP TABLE responses;
        CREATE TABLE responses (id text PRIMARY KEY NOT NULL, agent_id text NOT NULL, model text NOT NULL, previous_response_id text,
          input_tokens integer DEFAULT 0 NOT NULL, output_tokens integer DEFAULT 0 NOT NULL, body text NOT NULL, created_at integer NOT NULL, expires_at integer NOT NULL);
        CREATE INDEX responses_expiry ON responses (expires_at);
        CREATE TABLE response_items (seq integer PRIMARY KEY AUTOINCREMENT NOT NULL, response_id text NOT NULL, agent_id text NOT NULL, item_id text NOT NULL,
          kind text NOT NULL, body text NOT NULL, FOREIGN KEY (response_id) REFERENCES responses(id) ON UPDATE no action ON DELETE cascade);
        CREATE INDEX response_items_response ON response_items (response_id, seq);
        CREATE INDEX response_items_item ON response_items (agent_id, item_id);
        INSERT INTO responses VALUES ('resp_1', 'ag-1', 'gpt-4o', NULL, 3, 4, 'sealed-1', 1, 9999999999999), ('resp_2', 'ag-2', 'gpt-4o', 'resp_x', 5, 6, 'sealed-2', 2, 9999999999999);
        INSERT INTO response_items (response_id, agent_id, item_id, kind, body) VALUES ('resp_1', 'ag-1', 'msg_1', 'input', '@0'), ('resp_1', 'ag-1', 'msg_2', 'output', '@1'), ('resp_2', 'ag-2', 'msg_3', 'input', '@0');`);
      // And none of what came after 0023: each agent's stored-state count and its triggers (0024).
      for (const t of ['responses', 'response_items', 'conversations', 'conversation_items']) for (const w of ['in', 'out', 'changed']) raw.exec(`DROP TRIGGER IF EXISTS ${t}_stored_${w}`);
      raw.exec('DROP TABLE stored_usage');
      // And the approvals (0025), which came later.
      raw.exec('DROP TABLE approvals');
      // And the MCP calls counted (0026), with their trigger.
      raw.exec('DROP TRIGGER tool_calls_mcp; DROP TABLE mcp_totals');
      // The ledger's refusal of DELETE (0027).
      raw.exec('DROP TRIGGER llm_requests_no_delete');
      const migrations = join(import.meta.dirname, '../../src/state/migrations/sqlite');
      const journal = JSON.parse(readFileSync(join(migrations, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
      const at = journal.entries.findIndex((e) => e.tag.endsWith('_responses_per_agent'));
      raw.pragma(`user_version = ${schemaVersion() - (journal.entries.length - at)}`);
      raw.close();
      const state = StateManager.open(path);
      await state.close();
      const after = new Database(path, { readonly: true });
      try {
        expect(after.prepare('select agent_id, id, body from responses order by id').all()).toEqual([
          { agent_id: 'ag-1', id: 'resp_1', body: 'sealed-1' },
          { agent_id: 'ag-2', id: 'resp_2', body: 'sealed-2' },
        ]);
        expect(after.prepare('select agent_id, response_id, item_id from response_items order by seq').all()).toEqual([
          { agent_id: 'ag-1', response_id: 'resp_1', item_id: 'msg_1' },
          { agent_id: 'ag-1', response_id: 'resp_1', item_id: 'msg_2' },
          { agent_id: 'ag-2', response_id: 'resp_2', item_id: 'msg_3' },
        ]);
        expect(after.pragma('foreign_key_check')).toEqual([]);
        // 0024 counted what each agent keeps from the rows.
        expect(after.prepare('select agent_id, items from stored_usage order by agent_id').all()).toEqual([
          { agent_id: 'ag-1', items: 3 },
          { agent_id: 'ag-2', items: 2 },
        ]);
        expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        after.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});
