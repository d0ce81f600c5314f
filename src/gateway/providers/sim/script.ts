/**
 * The simulated provider's scripted mode (`providers.simulated.script`): a request's answer is
 * the next turn of the script's conversation it belongs to, so a test drives a real coding agent
 * through a task deterministically. Nothing is kept between requests: a conversation's place is
 * the number of answers the model has already given in it (its assistant turns in the request),
 * so side calls (a title, a quota probe, a token count), retries and requests of other
 * conversations never move it. A request no conversation takes gets the script's `otherwise`
 * text, or the ordinary simulated answer.
 */
import { basename } from 'node:path';
import type { ScriptedCall, ScriptedConversation, ScriptedTurn, ScriptedWhen, SimScript } from '../../../config/index.js';
import { countTextTokens } from '../../../domain/budget/index.js';
import { fold } from '../../../domain/policy/index.js';
import { callId, callTokens, jsonPieces, limitTokens, pieces } from './generate.js';
import type { SimChoice, SimGeneration, SimRequest, SimToolCall, SimTurn } from './types.js';

/**
 * The answers the model has given so far: runs of assistant turns, since one answer of the
 * Responses API is several items (a message, then each call).
 * @example answersSoFar([{ role: 'user', text: 'go' }, { role: 'assistant', text: '' }, { role: 'tool', text: 'ok' }]) // 1
 */
export function answersSoFar(turns: readonly SimTurn[]): number {
  let n = 0;
  for (let i = 0; i < turns.length; i++) if (turns[i]!.role === 'assistant' && turns[i - 1]?.role !== 'assistant') n++;
  return n;
}

const textOf = (turns: readonly SimTurn[], role: SimTurn['role']) =>
  turns
    .filter((t) => t.role === role)
    .map((t) => t.text)
    .join('\n');

/** Whether the request offers tools the model may call now. */
const offersTools = (req: SimRequest) => req.toolChoice !== 'none' && req.tools.length + req.customTools.length > 0;

function applies(w: ScriptedWhen, req: SimRequest): boolean {
  if (w.tools !== null && w.tools !== offersTools(req)) return false;
  if (w.models !== null && !w.models.some((m) => m.test(fold(req.model)))) return false;
  if (w.userContains !== null && !textOf(req.turns, 'user').includes(w.userContains)) return false;
  if (w.systemContains !== null && !textOf(req.turns, 'system').includes(w.systemContains)) return false;
  return true;
}

function textChoice(raw: string, req: SimRequest): SimChoice {
  const { text, cut } = limitTokens(raw, req.model, req.maxTokens);
  return { text, toolCalls: [], finish: cut ? 'length' : 'stop', pieces: pieces(text), completionTokens: countTextTokens(text, req.model) };
}

const list = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ');

/** Why a scripted call cannot be made in this request, in words the test's reader sees in the agent's transcript; null: it can. */
function notOffered(c: ScriptedCall, req: SimRequest): string | null {
  const functions = req.tools.map((t) => t.name);
  const own = c.custom ? req.customTools : functions;
  if (req.toolChoice !== 'none' && own.includes(c.name)) return null;
  const kind = c.custom ? 'custom' : 'function';
  if (req.toolChoice === 'none') return `the ${kind} tool "${c.name}", but this request says tool_choice none`;
  const other = c.custom ? functions : req.customTools;
  if (other.includes(c.name))
    return c.custom
      ? `the custom tool "${c.name}" with input, but this request offers it as a function tool: give it arguments`
      : `the function tool "${c.name}" with arguments, but this request offers it as a custom tool: give it input (text)`;
  const offered = [...functions, ...req.customTools];
  return `the ${kind} tool "${c.name}", which this request does not offer (${offered.length > 0 ? `it offers ${list(offered)}` : 'it offers no tools'})`;
}

function turnChoice(script: SimScript, conv: ScriptedConversation, at: number, turn: ScriptedTurn, req: SimRequest): SimChoice {
  for (const c of turn.calls) {
    const why = notOffered(c, req);
    if (why) return textChoice(`[iron-cage simulated script ${basename(script.file)}] ${conv.label}, turn ${at + 1}, calls ${why}.`, req);
  }
  // The same call gets the same id on every run and every wire: the seed is where it is in the script.
  const toolCalls: SimToolCall[] = turn.calls.map((c, k) => ({
    id: callId(`script\n${conv.label}\n${at}\n${k}`),
    name: c.name,
    arguments: c.arguments,
    argumentPieces: c.custom ? pieces(c.arguments) : jsonPieces(c.arguments),
    ...(c.custom ? { custom: true } : {}),
  }));
  const choice = textChoice(turn.text, req);
  if (toolCalls.length === 0) return choice;
  return { ...choice, toolCalls, finish: 'tool_calls', completionTokens: choice.completionTokens + callTokens(toolCalls, req.model) };
}

/**
 * The script's answer to `req`: the turn of the first conversation that takes it (its `when`
 * holds and it has a turn at the request's place), else `otherwise`; null when neither answers
 * (the ordinary simulated answer is given).
 * @example scripted(script, simRequest('chat', body, 'gpt-4o', raw))?.choices[0].toolCalls[0].name // 'read_file'
 */
export function scripted(script: SimScript, req: SimRequest): SimGeneration | null {
  const at = answersSoFar(req.turns);
  let choice: SimChoice | null = null;
  for (const conv of script.conversations) {
    const turn = conv.turns[at];
    if (turn && applies(conv.when, req)) {
      choice = turnChoice(script, conv, at, turn, req);
      break;
    }
  }
  if (choice === null && script.otherwise) choice = textChoice(script.otherwise.text, req);
  if (choice === null) return null;
  return { choices: Array.from({ length: req.n }, () => choice), completionTokens: choice.completionTokens * req.n };
}
