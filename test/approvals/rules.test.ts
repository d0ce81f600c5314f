import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpArgs, toolName, unknownNames } from '../../src/approvals/index.js';
import { loadConfig } from '../../src/config/index.js';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { firstMatch, namedDomains, type PolicyCall } from '../../src/domain/policy/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/runtime.js';

// The tool policies' rule language itself — what matches, what does not, and how a mistake is told.

const set = (rules: unknown) => policySet(policiesSchema.parse(rules));
const http = (service: string, tool: string, method = 'POST', agentName = 'writer'): PolicyCall => ({ kind: 'http', agentId: 'ag-1', agentName, service, tool, method });
const mcp = (service: string, tool: string, agentName = 'writer'): PolicyCall => ({ kind: 'mcp', agentId: 'ag-1', agentName, service, tool, method: null });
/** A tool call in an answer of `model` (a coding agent runs it itself): what `match.llm_tool` reads. */
const llm = (tool: string, agentName = 'coder', model = 'claude-sonnet-4-5'): PolicyCall => ({ kind: 'llm', agentId: 'ag-1', agentName, service: model, tool, method: null });
const first = (rules: unknown, call: PolicyCall, args: unknown = {}) => firstMatch(set(rules).rules, call, () => ({ readable: true, value: args })).rule?.label ?? null;

describe('matching', () => {
  const rules = [
    { name: 'crm-writes', match: { tool: 'crm.*', method: ['post', 'DELETE'] }, action: 'approve' },
    { name: 'gh', match: { mcp: 'github.*', tool: ['create_pull_request', 'merge_*'] }, action: 'approve' },
    { name: 'files', match: { agent: 'research*', mcp: 'files.*', tool: 'write_file' }, action: 'deny' },
    { name: 'search', match: { tool: 'search.*' }, rate: '30/min' },
  ];
  it('reads names, methods, agents and kinds as the docs say', () => {
    expect(first(rules, http('crm', 'contacts'))).toBe('crm-writes');
    expect(first(rules, http('crm', 'contacts', 'GET'))).toBe(null);
    expect(first(rules, http('CRM', 'contacts', 'delete'))).toBe('crm-writes');
    expect(first(rules, mcp('github', 'merge_pull_request'))).toBe('gh');
    expect(first(rules, mcp('github', 'list_issues'))).toBe(null);
    // A rule naming mcp never matches an HTTP call, even one whose name would.
    expect(first(rules, http('github', 'merge_x'))).toBe(null);
    // A rule naming a method never matches an MCP call.
    expect(first(rules, mcp('crm', 'anything'))).toBe(null);
    expect(first(rules, mcp('files', 'write_file', 'researcher'))).toBe('files');
    expect(first(rules, mcp('files', 'write_file', 'writer'))).toBe(null);
    // `tool` without `mcp` reads both kinds: an HTTP service or an MCP server called search.
    expect(first(rules, http('search', 'q', 'GET'))).toBe('search');
    expect(first(rules, mcp('search', 'web_search'))).toBe('search');
  });

  it("reads a tool call in a model's answer only by the rules that name llm_tool, and those rules nothing else", () => {
    const r = [
      { name: 'catch-all', action: 'deny' },
      { name: 'push', match: { agent: 'cod*', llm_tool: ['Bash', 'shell'], args: { command: { matches: String.raw`\bgit\s+push\b` } } }, action: 'deny' },
      { name: 'mcp-tools', match: { llm_tool: 'mcp__github__*' }, action: 'approve' },
    ];
    // A rule that names no kind (here: everything) is the tool proxy's and MCP's, never an answer's.
    expect(first(r.slice(0, 1), llm('Bash'), { command: 'git push' })).toBe(null);
    expect(first(r.slice(1), llm('Bash'), { command: 'git  push origin main' })).toBe('push');
    expect(first(r.slice(1), llm('SHELL'), { command: ['bash', '-lc', 'git push'] })).toBe('push');
    expect(first(r.slice(1), llm('Bash'), { command: 'git status' })).toBe(null);
    expect(first(r.slice(1), llm('Bash', 'reviewer'), { command: 'git push' })).toBe(null);
    expect(first(r.slice(1), llm('mcp__github__merge_pull_request'))).toBe('mcp-tools');
    // An llm_tool rule never matches a tool-proxy or MCP call of the same name.
    expect(first(r.slice(1), http('Bash', 'x'), { command: 'git push' })).toBe(null);
    expect(first(r.slice(1), mcp('mcp__github__x', 'y'))).toBe(null);
  });

  it('tests arguments: lists by any item, text without case or width, numbers, absence', () => {
    const r = [
      { name: 'outside', match: { tool: 'email.send', args: { to: { not_endswith: '@acme.example' } } }, action: 'approve' },
      { name: 'big', match: { tool: 'pay.*', args: { amount: { gt: 1000 }, currency: { in: ['USD', 'eur'] } } }, action: 'approve' },
      { name: 'nested', match: { tool: 'crm.*', args: { 'owner.email': { matches: '^ceo@' } } }, action: 'deny' },
      { name: 'no-to', match: { tool: 'email.*', args: { to: { exists: false } } }, action: 'deny' },
      { name: 'eq', match: { tool: 'flags.*', args: { dry_run: false } }, action: 'approve' },
    ];
    const send = http('email', 'send');
    expect(first(r, send, { to: ['a@acme.example', 'B@ACME.EXAMPLE'] })).toBe(null);
    expect(first(r, send, { to: 'x@acme.example' })).toBe(null);
    expect(first(r, send, { to: ['a@acme.example', 'm@evil.example'] })).toBe('outside');
    // A fullwidth at-sign is read as what it stands for.
    expect(first(r, send, { to: 'a＠acme.example' })).toBe(null);
    expect(first(r, http('email', 'draft'), {})).toBe('no-to');
    expect(first(r, http('pay', 'out'), { amount: '1500', currency: 'EUR' })).toBe('big');
    expect(first(r, http('pay', 'out'), { amount: 999, currency: 'USD' })).toBe(null);
    expect(first(r, http('pay', 'out'), { amount: 5000, currency: 'GBP' })).toBe(null);
    expect(first(r, http('crm', 'x', 'GET'), { owner: [{ email: 'a@x' }, { email: 'CEO@x' }] })).toBe('nested');
    expect(first(r, http('flags', 'x'), { dry_run: false })).toBe('eq');
    expect(first(r, http('flags', 'x'), { dry_run: true })).toBe(null);
  });

  it('keeps readable the e-mail domains the rules name, so a rule about a domain can hold', () => {
    expect(namedDomains(set([{ match: { args: { to: { not_endswith: '@Acme.Example' }, cc: { in: ['x@partner.example'] } } }, action: 'approve' }]).rules).sort()).toEqual([
      'acme.example',
      'partner.example',
    ]);
  });

  it('reads an HTTP call as its upstream will: decoded, parameters cut, no empty segments', async () => {
    expect(toolName('send')).toBe('send');
    expect(toolName('%73end/')).toBe('send');
    expect(toolName('send;v=1?x=1')).toBe('send');
    expect(toolName('contacts/%2534%2532')).toBe('contacts/42');
    const read = async (query: string, body: string | null, type?: string) => {
      const a = await httpArgs(query, body === null ? null : Buffer.from(body), { 'content-type': type }, 5 << 20);
      return a.readable ? { ...(a.value as object) } : a;
    };
    expect(await read('to=a%40b.c&to=d%40e.f', null)).toEqual({ to: ['a@b.c', 'd@e.f'] });
    // In the body and the query: both, for one upstream reads one and another the other.
    expect(await read('to=q', '{"to":"body"}', 'application/json')).toEqual({ to: ['body', 'q'] });
    expect(await read('', 'to=x%40y.z', 'application/x-www-form-urlencoded')).toEqual({ to: 'x@y.z' });
    const proto = await httpArgs('', Buffer.from('{"__proto__":{"admin":true}}'), { 'content-type': 'application/json' }, 5 << 20);
    expect(proto.readable && Object.getPrototypeOf(proto.value)).toBe(null);
    expect(({} as any).admin).toBeUndefined();
  });
});

describe('the config', () => {
  const load = (yaml: string) => {
    const { dir, cleanup } = tempDir();
    try {
      const f = join(dir, 'iron-cage.yaml');
      writeFileSync(f, yaml);
      return loadConfig({ configPath: f, env: {} });
    } finally {
      cleanup();
    }
  };
  const error = (yaml: string): string => {
    try {
      load(yaml);
    } catch (e) {
      return (e as Error).message.replace(/^config \S+: /, '');
    }
    throw new Error('loaded');
  };

  it('takes a list, or the section with its default and timeout', () => {
    expect(load('policies:\n  - match: { tool: "a.*" }\n    action: deny\n').policies).toMatchObject({ default: 'allow', rules: [{ label: 'policies[0]', action: 'deny' }] });
    const c = load('policies:\n  default: deny\n  timeout: 30s\n  rules:\n    - { name: ok, match: { tool: "a.*" }, action: approve }\n').policies;
    expect(c).toMatchObject({ default: 'deny', rules: [{ label: 'ok', action: 'approve', timeoutMs: 30_000, approvers: { roles: ['admin'], users: [] } }] });
  });

  it('says at start which rules name a service or server the config lacks', () => {
    const c = load(
      'tools:\n  crm: { url: "http://127.0.0.1:9" }\nmcp:\n  servers:\n    github: { url: "http://127.0.0.1:9/mcp" }\npolicies:\n  - { match: { tool: "crm.*" }, action: deny }\n  - { match: { tool: "emial.send" }, action: deny }\n  - { match: { mcp: "github.*", tool: merge }, action: approve }\n  - { match: { mcp: "gitlab.*" }, action: approve }\n  - { match: { tool: "github.merge" }, action: deny }\n  - { match: { tool: "*.send" }, action: deny }\n',
    );
    expect(unknownNames(c)).toEqual([
      "policies[1] (match.tool) names 'emial', which is no tool service or MCP server of this config (configured: crm, github): the rule matches nothing there",
      "policies[3] (match.mcp) names 'gitlab', which is no MCP server of this config (configured: crm, github): the rule matches nothing there",
    ]);
  });

  it('names the key of each mistake', () => {
    expect(error('policies:\n  - match: { tool: "a.*" }\n    action: aprove\n')).toBe('policies.rules.0.action: must be one of allow, deny, approve');
    expect(error('policies:\n  - match: { tool: "a.*", args: { to: { endswit: x } } }\n    action: deny\n')).toBe("unknown key 'policies.rules.0.match.args.to.endswit'");
    expect(error('policies:\n  - match: { tool: "a.*", args: { to: { matches: "(" } } }\n    action: deny\n')).toMatch(
      /^policies\.rules\.0\.match\.args\.to\.matches: is not a valid regular expression/,
    );
    expect(error('policies:\n  - match: { tool: "a.*" }\n    rate: 3/fortnight\n')).toMatch(/^policies\.rules\.0\.rate: "3\/fortnight" is not a rate/);
    expect(error('policies:\n  - match: { tool: "a.*" }\n    action: approve\n    approvers: [viewer]\n')).toMatch(
      /^policies\.rules\.0\.approvers\.0: must be admin .* viewers and agents never approve/,
    );
    expect(error('policies:\n  - match: { tool: "a.*" }\n    action: deny\n    timeout: 5m\n')).toBe('policies.rules.0.timeout: is for action: approve');
    expect(error('policies:\n  - match: { tool: "a.*" }\n')).toBe('policies.rules.0: needs an action (allow, deny or approve) or a rate');
    expect(error('policies:\n  - match: { mcp: "a.*", method: POST }\n    action: deny\n')).toMatch(/^policies\.rules\.0\.match\.method: is for HTTP tool calls/);
    for (const k of ['tool: "a.*"', 'mcp: "a.*"', 'method: POST'])
      expect(error(`policies:\n  - match: { llm_tool: Bash, ${k} }\n    action: deny\n`)).toBe(
        `policies.rules.0.match.${k.split(':')[0]}: is for tool-proxy and MCP calls; this rule names llm_tool (a tool call in a model's answer), so it would match nothing: write two rules`,
      );
    expect(error('policies:\n  - match: { llm_tool: Bash }\n    rate: 3/min\n')).toMatch(
      /^policies\.rules\.0\.rate: is for tool-proxy and MCP calls: a tool call in a model's answer is already paid for/,
    );
    expect(error('policies:\n  - match: { llm_tool: "" }\n    action: deny\n')).toBe('policies.rules.0.match.llm_tool: must not be empty');
    expect(error('policies:\n  - match: { llm_tool: [] }\n    action: deny\n')).toBe('policies.rules.0.match.llm_tool: must list at least one name');
    expect(error('policies:\n  - match: { llm_tool: "git push" }\n    action: deny\n')).toMatch(/^policies\.rules\.0\.match\.llm_tool: must be a name or a glob/);
    expect(error('policies:\n  - match: { llm_tool: Bash, args: { command: { matches: "(" } } }\n    action: deny\n')).toMatch(
      /^policies\.rules\.0\.match\.args\.command\.matches: is not a valid regular expression/,
    );
    expect(error('policies:\n  default: maybe\n')).toMatch(/^policies.default: must be (one of allow, deny|allow or deny)/);
    expect(error('policies:\n  rules:\n    - match: { tool: "a.*" }\n      action: approve\n      timeout: 2d\n')).toBe('policies.rules.0.timeout: must be at most 24h');
  });

  it('refuses a mistake in llm_tool at the command line: exit 2, one line naming the key', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'iron-cage.yaml'), 'policies:\n  - { name: no-push, match: { llm_tool: Bash, args: { command: { matches: "git push" } } }, action: approve, rate: 1/min }\n');
      const r = await cliInProcess(['serve', '--config', join(dir, 'iron-cage.yaml'), '--port', '0', '--db', join(dir, 's.db')], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/policies\.rules\.0\.rate: is for tool-proxy and MCP calls/)]);
    } finally {
      cleanup();
    }
  });
});
