import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { parse as parseYaml } from 'yaml';
import { DEMO_SECRETS } from '../../src/demo/index.js';
import { loadScenario, predictSpend } from '../../src/demo/scenario.js';
import { serve } from '../helpers/http.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';
import { cli, CLI_TEST_TIMEOUT_MS, cliInProcess } from '../helpers/cli.js';

// The whole conference demo, as CI runs it: `iron-cage demo --pace fast`, not on a TTY, then
// everything it claims is checked against the database it leaves behind. `npm run soak` runs
// this file ten times; with DEMO_SOAK_REPORT set, each run writes what it measured there.

const CLI = join(ROOT, 'dist/cli.js');
const scenario = loadScenario(join(ROOT, 'demo/scenario.yaml'));
const T = scenario.triggers;

function runDemo(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'demo', ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface EventRow {
  seq: number;
  agent_id: string | null;
  type: string;
  severity: string;
  message: string;
  data: string;
}

/** For each event: the lead the agent was on (leads done before it, plus one). */
function leadsOf(events: EventRow[], agentId: string): Array<EventRow & { lead: number; d: Record<string, unknown> }> {
  let done = 0;
  return events.map((e) => {
    const d = JSON.parse(e.data) as Record<string, unknown>;
    const lead = Math.min(done + 1, scenario.leads);
    if (e.type === 'agent.progress' && e.agent_id === agentId) done = d.done as number;
    return { ...e, d, lead };
  });
}

describe('iron-cage demo', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('refuses bad flags with one precise line and exit 2, starting nothing', async () => {
    const { dir } = tempDir();
    writeFileSync(join(dir, 'mine.db'), 'not the demo');
    // Refused before the demo claims anything or handles a signal: in-process (cliInProcess, the
    // same program without a cold start of Node), a database or folder not the demo's too (refused
    // before the scenario's check). A live run's lock is met once the demo handles Ctrl-C: that one
    // is a process of its own (the next test).
    const cases: Array<[string[], RegExp]> = [
      [['--pace', 'slow'], /--pace: must be fast, default, talk or seconds per lead from 0 to 60 \(got "slow"\)/],
      [['--pace', '61'], /--pace: must be fast, default, talk or seconds per lead from 0 to 60 \(got "61"\)/],
      [['--pace', '-1'], /--pace: must be fast, default, talk or seconds per lead from 0 to 60 \(got "-1"\)/],
      [['--port', 'abc'], /--port: "abc" is not a whole number/],
      [['--db', ''], /--db: must not be empty/],
      [['--db', 'mine.db'], /--db: .*mine\.db was not made by iron-cage demo; refusing to delete it \(choose another --db\)/],
      [['--db', 'mine.db', '--keep'], /--db: .*mine\.db was not made by iron-cage demo; refusing to add the demo to it/],
      [['--bogus'], /Unknown argument: bogus/],
    ];
    const results = await Promise.all(cases.map(async ([args, message]) => ({ args, message, r: await cliInProcess(['demo', ...args], { cwd: dir }) })));
    for (const { args, message, r } of results) {
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^iron-cage: /);
    }
    expect(readFileSync(join(dir, 'mine.db'), 'utf8')).toBe('not the demo');
    expect(existsSync(join(dir, 'mine.db.files'))).toBe(false);
  });

  it('touches only what it made for this very --db: other folders, key files, a live run and a busy port are refused with exit 2', async () => {
    const { dir } = tempDir();
    const untouched: Record<string, string> = {};
    const put = (rel: string, text: string) => {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
      untouched[rel] = text;
    };
    // No database, but a folder and keys by its name that the demo never made.
    put('gone.db.files/notes.txt', 'mine');
    put('gone.db.key', "someone else's token key");
    put('gone.db.audit.key', "someone else's audit key");
    // A real database whose name differs from a demo database only by ".db".
    put('iron_state.db', 'a real database');
    put('iron_state.files/iron-cage-demo.json', JSON.stringify({ db: join(dir, 'iron_state') }));
    // A marker that names another database.
    put('other.db', 'another database');
    put('other.db.files/iron-cage-demo.json', JSON.stringify({ db: join(dir, 'elsewhere/other.db') }));
    // A demo database whose run is still going (this test's own pid holds the lock).
    put('live.db', 'a live demo run');
    put('live.db.files/iron-cage-demo.json', JSON.stringify({ db: join(dir, 'live.db') }));
    put('live.db.files/demo.lock', String(process.pid));

    const refusals: Array<[string[], RegExp]> = [
      [['--db', 'gone.db'], /--db: .*gone\.db\.files exists but was not made by iron-cage demo for .*gone\.db; refusing to touch it \(choose another --db\)/],
      [['--db', 'iron_state.db'], /--db: .*iron_state\.db was not made by iron-cage demo; refusing to delete it/],
      [['--db', 'other.db'], /--db: .*other\.db\.files exists but was not made by iron-cage demo for .*other\.db; refusing to touch it/],
      [['--db', 'live.db', '--port', '0'], new RegExp(`--db: another iron-cage demo \\(pid ${process.pid}\\) is running on .*live\\.db; stop it or choose another --db`)],
    ];
    // The live run's lock is met after the demo handles Ctrl-C (and this process holds it): a process of its own; the others in-process.
    const results = await Promise.all(refusals.map(async ([args, message]) => ({ args, message, r: await (args.includes('live.db') ? cli : cliInProcess)(['demo', ...args], { cwd: dir }) })));
    for (const { args, message, r } of results) {
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // A --port that is taken is refused before anything is deleted (or claimed: in-process).
    const busy = await serve(() => undefined);
    const port = busy.port;
    const { code, stderr } = await cliInProcess(['demo', '--db', 'live.db', '--port', String(port)], { cwd: dir });
    await busy.close();
    expect(code).toBe(2);
    expect(stderr).toMatch(new RegExp(`--port: ${port} on 127\\.0\\.0\\.1 is in use \\(choose another, or 0 for any free port\\)`));
    for (const [rel, text] of Object.entries(untouched)) expect(readFileSync(join(dir, rel), 'utf8'), rel).toBe(text);
    expect(readdirSync(join(dir, 'gone.db.files'))).toEqual(['notes.txt']);
  });

  it('stops cleanly on Ctrl-C during setup and once running: exit 0, the lock released, no results', async () => {
    const { dir } = tempDir();
    // Setup: as soon as the data folder is claimed. Running: once the agent is at work.
    const moments: Array<[string, (out: string) => boolean]> = [
      ['setup', () => existsSync(join(dir, 'setup.db.files/demo.lock'))],
      ['running', (out) => /Iron Cage demo at/.test(out) && /lead 2\b|Lead 2\b|2\/100/.test(out)],
    ];
    for (const [name, ready] of moments) {
      const child = spawn(process.execPath, [CLI, 'demo', '--pace', '.5', '--db', `${name}.db`, '--port', '0'], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const closed = new Promise<number | null>((done) => child.on('close', done));
      await until(() => ready(out) || child.exitCode !== null, 30_000, 10);
      // As a terminal's Ctrl-C does: to the whole process group, the agent included.
      process.kill(-child.pid!, 'SIGINT');
      expect(await closed, `${name}: ${out}`).toBe(0);
      expect(out).not.toMatch(/Results|Traceback|KeyboardInterrupt/);
      expect(existsSync(join(dir, `${name}.db.files/demo.lock`)), name).toBe(false);
    }
  }, 60_000);

  it('runs the 100 leads at --pace fast: every trigger at its lead, figures that agree with the database, exit 0', async () => {
    const { dir } = tempDir();
    const db = join(dir, 'demo.db');
    const first = runDemo(['--pace', 'fast', '--db', db, '--port', '0'], dir);
    // A second demo on the same --db while the first runs is refused and deletes nothing.
    const lockFile = join(dir, 'demo.db.files/demo.lock');
    await until(() => existsSync(lockFile) && existsSync(db), 30_000, 10);
    const second = await runDemo(['--pace', 'fast', '--db', db, '--port', '0'], dir);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/--db: another iron-cage demo \(pid \d+\) is running on .*demo\.db; stop it or choose another --db/);
    const run = await first;
    const results = JSON.parse(readFileSync(join(dir, 'demo.db.files/results.json'), 'utf8')) as {
      agentId: string;
      leadsProcessed: number;
      totalCostUsd: number;
      piiBlocked: number;
      runTimeMs: number;
      mails: string[];
      breaker: { blockedCalls: number };
      triggers: Record<string, number | null>;
      keys: { seen: Array<{ lead: number | null; key: string }>; newKeyFromLead: number | null };
      injection: { detected: number; finding: { service: string; signals: string[] } | null; rule: string | null; outreach: { service: string; sent: number; refused: number } };
    };
    const sql = new Database(db, { readonly: true });
    const id = results.agentId;
    const events = leadsOf(sql.prepare('SELECT seq, agent_id, type, severity, message, data FROM events ORDER BY seq').all() as EventRow[], id);
    const firstLead = (pred: (e: (typeof events)[number]) => boolean) => events.find(pred)?.lead ?? null;
    const fired = {
      breaker: firstLead((e) => e.type === 'breaker.transition' && e.d.service === T.breaker.service && e.d.to === 'OPEN'),
      rotationAsked: results.triggers.rotation,
      rotationDone: firstLead((e) => e.type === 'secret.updated' && e.d.name === T.rotation.secret),
      pii: firstLead((e) => e.type === 'pii.detected' && e.agent_id === id && e.d.location === 'llm.output'),
      budgetWarning: firstLead((e) => e.type === 'budget.threshold' && e.agent_id === id && (e.d.threshold as number) >= 0.9),
      injection: firstLead((e) => e.type === 'injection.detected' && e.agent_id === id),
    };
    const costMicros = (sql.prepare('SELECT COALESCE(SUM(cost_micros), 0) AS n FROM llm_requests WHERE agent_id = ?').get(id) as { n: number }).n;
    if (process.env.DEMO_SOAK_REPORT) {
      writeFileSync(process.env.DEMO_SOAK_REPORT, JSON.stringify({ exitCode: run.code, runTimeMs: results.runTimeMs, fired, newKeyFromLead: results.keys.newKeyFromLead, costUsd: costMicros / 1e6 }));
    }

    expect(run.code, `${run.stderr}\n${run.stdout.slice(-4000)}`).toBe(0);
    expect(run.stdout).toMatch(/Results/);
    // The budget and the approval amount have one source, the scenario: the config as run
    // carries them, demo/iron-cage.yaml does not.
    const asRun = parseYaml(readFileSync(join(dir, 'demo.db.files/iron-cage.yaml'), 'utf8')) as { budget: number; budget_policy: { min_increase_usd: number } };
    expect(asRun.budget).toBe(scenario.budgetUsd);
    expect(asRun.budget_policy.min_increase_usd).toBe(T.budgetWarning.approveUsd);
    const source = parseYaml(readFileSync(join(ROOT, 'demo/iron-cage.yaml'), 'utf8')) as { budget?: number; budget_policy: { min_increase_usd?: number } };
    expect([source.budget, source.budget_policy.min_increase_usd]).toEqual([undefined, undefined]);
    expect(results.leadsProcessed).toBe(scenario.leads);

    // Each trigger at its lead. The breaker opens after its threshold of consecutive failures,
    // at least one call per lead from the first 429: within that many leads of breaker.lead.
    const opened = events.find((e) => e.type === 'breaker.transition' && e.d.service === T.breaker.service && e.d.to === 'OPEN')!;
    expect(fired.breaker).toBeGreaterThanOrEqual(T.breaker.lead);
    expect(fired.breaker).toBeLessThanOrEqual(T.breaker.lead + (opened.d.consecutiveFailures as number) - 1);
    expect(fired.pii).toBe(T.pii.lead);
    expect(fired.budgetWarning).toBe(T.budgetWarning.lead);
    expect(fired.injection).toBe(T.injection.lead);
    expect(results.triggers).toMatchObject({ injection: T.injection.lead, refusal: T.injection.lead });
    // The admin's rotation is for its lead and lands before that lead begins: the LLM upstream
    // holds its answer to the last call of the lead before until the PUT has returned.
    expect(fired.rotationAsked).toBe(T.rotation.lead);
    expect(fired.rotationDone).toBe(T.rotation.lead - 1);

    // The rotated key was used: before the rotation lead only the original key reached the
    // LLM upstream; the key changed once, to the new one, which every later call carried.
    const original = createHash('sha256').update(DEMO_SECRETS.OPENAI_API_KEY!).digest('hex').slice(0, 12);
    const seen = results.keys.seen;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((k) => k.lead !== null && k.lead < T.rotation.lead).every((k) => k.key === original)).toBe(true);
    const switchAt = seen.findIndex((k) => k.key !== original);
    expect(switchAt).toBeGreaterThan(0);
    // The first call with the new key is the rotation lead's first call, exactly.
    expect(seen[switchAt]!.lead).toBe(T.rotation.lead);
    expect(seen[switchAt - 1]!.lead).toBe(T.rotation.lead - 1);
    expect(results.keys.newKeyFromLead).toBe(T.rotation.lead);
    expect(new Set(seen.slice(switchAt).map((k) => k.key)).size).toBe(1);
    expect(seen.filter((k) => k.lead !== null).at(-1)!.lead).toBe(scenario.leads);

    // The final figures agree with the database.
    expect(Math.round(results.totalCostUsd * 1e6)).toBe(costMicros);
    // …and the prediction the scenario was checked with before the run: every call priced as planned.
    expect(costMicros).toBe(Math.round(predictSpend(scenario).at(-1)! * 1e6));
    const auditRows = (sql.prepare("SELECT COUNT(*) AS n FROM pii_audit WHERE agent_id = ? AND action != 'warned'").get(id) as { n: number }).n;
    expect(results.piiBlocked).toBe(auditRows);
    // One scripted e-mail address, one redaction.
    expect(auditRows).toBe(1);
    const blockedRows = (sql.prepare("SELECT COUNT(*) AS n FROM tool_calls WHERE reason = 'circuit_open' AND agent_id = ?").get(id) as { n: number }).n;
    expect(results.breaker.blockedCalls).toBe(blockedRows);
    expect(blockedRows).toBeGreaterThan(0);

    // The injection: one finding, in Clearbit's answer for its lead, counted on the Protection
    // panel; from that lead on the after_injection rule refused every e-mail the agent sent, and
    // the refusals are the mail service's calls the database holds.
    const found = events.filter((e) => e.type === 'injection.detected' && e.agent_id === id);
    expect(found.map((e) => [e.lead, e.d.source, e.d.action, e.d.requestRef])).toEqual([[T.injection.lead, 'tool.response', 'detected', `tool:${T.injection.service}`]]);
    expect(results.injection).toEqual({
      detected: 1,
      finding: { service: T.injection.service, signals: found[0]!.d.signals },
      rule: 'no-mail-after-injection',
      outreach: { service: 'mailer', sent: T.injection.lead - 1, refused: scenario.leads - T.injection.lead + 1 },
    });
    const refusals = events.filter((e) => e.type === 'policy.decision' && e.agent_id === id);
    expect(refusals.map((e) => [e.lead, e.d.action, e.d.rule, e.d.service])).toEqual(
      Array.from({ length: scenario.leads - T.injection.lead + 1 }, (_, i) => [T.injection.lead + i, 'deny', 'no-mail-after-injection', 'mailer']),
    );
    const mailRows = sql.prepare("SELECT reason, COUNT(*) AS n FROM tool_calls WHERE service = 'mailer' AND agent_id = ? GROUP BY reason ORDER BY reason").all(id);
    expect(mailRows).toEqual([
      { reason: 'ok', n: T.injection.lead - 1 },
      { reason: 'policy_denied', n: scenario.leads - T.injection.lead + 1 },
    ]);
    // Said where it happened, and in the results table.
    expect(run.stdout).toMatch(new RegExp(`DEMO  Lead ${T.injection.lead}: Clearbit's record for .* hides instructions for the AI assistant`));
    expect(run.stdout).toMatch(new RegExp(`Prompt injection +1 detected at lead ${T.injection.lead}, in Clearbit's answer \\(.*hidden-html.*\\)`));
    expect(run.stdout).toMatch(
      new RegExp(`Outreach e-mails +${T.injection.lead - 1} sent, ${scenario.leads - T.injection.lead + 1} refused by policy rule no-mail-after-injection from lead ${T.injection.lead}`),
    );

    // The budget e-mail reached the SMTP sink, addressed to the ops list, about the 90% threshold.
    const mails = results.mails.map((f) => readFileSync(f, 'utf8'));
    expect(mails.some((m) => /^To: ops@company\.com/m.test(m) && /^Subject: .*90%/m.test(m.replace(/\r?\n[ \t]+/g, ' ')))).toBe(true);
    const delivered = events.filter((e) => e.type === 'alert.delivery' && e.d.channel === 'email');
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.every((e) => e.d.ok === true)).toBe(true);

    // No ERROR other than the scripted ones: those about the service scripted to fail, with its status.
    const scripted = (e: (typeof events)[number]) => e.d.service === T.breaker.service && JSON.stringify(e.d).includes(String(T.breaker.status));
    const errors = events.filter((e) => (e.severity === 'error' || e.severity === 'critical') && !scripted(e));
    expect(errors.map((e) => `${e.type}: ${e.message}`)).toEqual([]);
    const exited = events.filter((e) => e.type === 'agent.exited' && e.agent_id === id);
    expect(exited.map((e) => e.d.status)).toEqual(['completed']);
    sql.close();

    // --keep adds a second run to the same database: its breakers start CLOSED again and its
    // figures are its own agent's, the same as the first run's.
    const kept = await runDemo(['--pace', 'fast', '--db', db, '--port', '0', '--keep'], dir);
    expect(kept.code, `${kept.stderr}\n${kept.stdout.slice(-4000)}`).toBe(0);
    const again = JSON.parse(readFileSync(join(dir, 'demo.db.files/results.json'), 'utf8')) as typeof results;
    expect(again.agentId).not.toBe(results.agentId);
    expect(again.breaker).toEqual(results.breaker);
    expect(again.triggers).toEqual(results.triggers);
    expect(again.totalCostUsd).toBe(results.totalCostUsd);
    expect(again.piiBlocked).toBe(results.piiBlocked);
    expect(again.injection).toEqual(results.injection);
  }, 240_000);
});
