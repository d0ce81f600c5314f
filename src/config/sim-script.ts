import type { Document, LineCounter } from 'yaml';
import * as z from 'zod';
import { ConfigError } from '../core/errors.js';
import { readNamedFile } from './named-file.js';
import { yaml } from '../core/on-first-use.js';
import { describeZodIssue } from '../core/validation.js';
import { globPattern } from './policies.js';

// `providers.simulated.script`: a file of scripted turns the simulated provider answers with, so a
// test drives a real coding agent (Claude Code, Codex CLI) through a task deterministically. The
// file is read here, once, at load: a missing, unreadable or malformed one is a ConfigError naming
// the file and the line and field at fault. How a request finds its turn is
// src/gateway/providers/sim/script.ts; the format is in docs/gateway.md.

/** One tool call of a scripted turn: a function tool's JSON arguments, or a custom (freeform) tool's text. */
export interface ScriptedCall {
  name: string;
  /** JSON text of the arguments (a function tool), or the free text input (a custom tool). */
  arguments: string;
  /** A custom tool (the Responses API's `type: custom`, e.g. Codex's `apply_patch`): called with `input`, not `arguments`. */
  custom: boolean;
}

/** One answer of the model: text, tool calls, or both; neither is an empty answer (`end: true`). */
export interface ScriptedTurn {
  text: string;
  calls: ScriptedCall[];
}

/** Which requests a conversation answers; null: any. */
export interface ScriptedWhen {
  /** The request offers tools the model may call (true) or none (false). */
  tools: boolean | null;
  models: RegExp[] | null;
  /** Text the user's own messages (not tool results) hold. */
  userContains: string | null;
  /** Text the system prompt (instructions) holds. */
  systemContains: string | null;
}

export interface ScriptedConversation {
  /** Its `name`, or `conversations[i]`: what an answer about it says. */
  label: string;
  when: ScriptedWhen;
  turns: ScriptedTurn[];
}

export interface SimScript {
  /** The file, absolute: said at start and in an answer about a mistake in it. */
  file: string;
  conversations: ScriptedConversation[];
  /** The answer to a request no conversation takes; null: the ordinary simulated answer. */
  otherwise: { text: string } | null;
}

const text = z.string().max(1_000_000, 'must be at most 1000000 characters');
const needle = z.string().min(1, 'must not be empty').max(10_000, 'must be at most 10000 characters');
const name = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');
const glob = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');

const call = z
  .strictObject({
    name,
    /** A function tool's arguments, as the mapping they are. */
    arguments: z.record(z.string(), z.unknown()).optional(),
    /** A custom tool's free text input. */
    input: text.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.arguments === undefined) === (c.input === undefined))
      ctx.addIssue({ code: 'custom', message: 'give arguments (a mapping, for a function tool) or input (text, for a custom tool), one of them' });
  });

const turn = z
  .strictObject({
    text: text.optional(),
    tool_calls: z.array(call).min(1, 'must list at least one call').max(128, 'must list at most 128 calls').optional(),
    /** The model answers nothing and stops. */
    end: z.literal(true, 'must be true (leave it out otherwise)').optional(),
  })
  .superRefine((t, ctx) => {
    const says = t.text !== undefined || t.tool_calls !== undefined;
    if (t.end && says) ctx.addIssue({ code: 'custom', message: 'end: true is an empty answer: give it alone, without text or tool_calls' });
    if (!t.end && !says) ctx.addIssue({ code: 'custom', message: 'a turn needs text, tool_calls (or both), or end: true' });
  });

const when = z.strictObject({
  tools: z.boolean().optional(),
  model: z.union([glob, z.array(glob).min(1, 'must list at least one model')]).optional(),
  user_contains: needle.optional(),
  system_contains: needle.optional(),
});

const scriptSchema = z.strictObject({
  conversations: z
    .array(
      z.strictObject({
        name: name.optional(),
        when: when.optional(),
        turns: z.array(turn).min(1, 'must list at least one turn').max(10_000, 'must list at most 10000 turns'),
      }),
    )
    .min(1, 'must list at least one conversation')
    .max(1_000, 'must list at most 1000 conversations'),
  otherwise: z.strictObject({ text }).optional(),
});

type ScriptFile = z.output<typeof scriptSchema>;

/** A type as a YAML or JSON file's writer knows it. */
const IN_WORDS: Record<string, string> = { object: 'a mapping', record: 'a mapping', array: 'a list', string: 'text', boolean: 'true or false', number: 'a number' };
type Path = ReadonlyArray<PropertyKey>;

/** `conversations[0].turns[2].text`: a field as the file's reader finds it. */
const fieldOf = (path: Path) => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');

/** The value at `path` in what the file held; undefined: it holds none there. */
function valueAt(raw: unknown, path: Path): unknown {
  let v = raw;
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** The line of the deepest node of `path` the document holds (a missing key: its mapping's line). */
function lineOf(doc: Document, lines: LineCounter, path: Path): number | null {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return null;
}

function compile(f: ScriptFile, file: string): SimScript {
  return {
    file,
    conversations: f.conversations.map((c, i) => ({
      label: c.name ?? `conversations[${i}]`,
      when: {
        tools: c.when?.tools ?? null,
        models: c.when?.model === undefined ? null : (Array.isArray(c.when.model) ? c.when.model : [c.when.model]).map(globPattern),
        userContains: c.when?.user_contains ?? null,
        systemContains: c.when?.system_contains ?? null,
      },
      turns: c.turns.map((t) => ({
        text: t.text ?? '',
        calls: (t.tool_calls ?? []).map((k) => (k.input !== undefined ? { name: k.name, arguments: k.input, custom: true } : { name: k.name, arguments: JSON.stringify(k.arguments), custom: false })),
      })),
    })),
    otherwise: f.otherwise ?? null,
  };
}

/**
 * The script at `file` (absolute; YAML, or JSON, which YAML reads too), checked whole. Every
 * refusal is a ConfigError that names the file, and the line and field at fault where there is one.
 * @example loadSimScript('/work/test/fixtures/sim-script.yaml').conversations[0].turns.length // 4
 */
export function loadSimScript(file: string): SimScript {
  const at = (line: number | null) => `${file}${line === null ? '' : ` line ${line}`}: `;
  const source = readNamedFile(file, file);
  const Y = yaml();
  const lines = new Y.LineCounter();
  const doc = Y.parseDocument(source, { lineCounter: lines });
  const bad = doc.errors[0];
  // Its first line says where (`… at line 2, column 5:`); the line goes before it, like a schema mistake's.
  if (bad) throw new ConfigError(`${at(bad.linePos?.[0].line ?? null)}not valid YAML or JSON: ${bad.message.split('\n')[0]!.replace(/ at line \d+, column (\d+):?$/, ' (column $1)')}`);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(`${at(null)}not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) throw new ConfigError(`${at(null)}is empty: a script lists its conversations (docs/gateway.md, "A scripted simulated provider")`);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${at(1)}the top level must be a mapping (conversations:, otherwise:)`);
  const r = scriptSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const unknownKeys = issue.code === 'unrecognized_keys';
    // An unknown key is said with its whole path; anything else names its field first.
    const path = unknownKeys ? [...issue.path, issue.keys[0]!] : issue.path;
    const field = fieldOf(issue.path);
    const missing = issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined;
    const said = missing ? 'required' : issue.code === 'invalid_type' ? `expected ${IN_WORDS[issue.expected] ?? issue.expected}` : describeZodIssue({ ...issue, path: [] });
    const what = unknownKeys ? describeZodIssue({ ...issue, path: [] }, 'key').replace(/'([^']+)'/g, (_m, k: string) => `'${field ? `${field}.${k}` : k}'`) : `${field ? `${field}: ` : ''}${said}`;
    throw new ConfigError(`${at(lineOf(doc, lines, path))}${what}`);
  }
  return compile(r.data, file);
}
