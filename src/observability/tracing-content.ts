import type { PromptPart, PromptParts } from '../core/prompt.js';
import type { ObservedCall } from './observed.js';

// Opt-in content capture (`traces.capture_content`): the prompt and the answer as the GenAI
// conventions' JSON (gen_ai.system_instructions, gen_ai.input.messages, gen_ai.output.messages:
// messages of a role and parts, text parts `{type: 'text', content}`), every text through PII
// redaction first, and bounded, so one call cannot make a span no collector will take.

/** Characters kept of one text (after redaction); the rest is cut, marked. */
export const MAX_TEXT_CHARS = 4096;
/** Messages kept of a conversation: its last ones (the newest turn is what the call was about). */
export const MAX_MESSAGES = 32;
/** Parts kept of one message. */
const MAX_PARTS = 16;
/** Characters of a text redaction reads: twice what is kept, so a value cut at the end is cut off anyway. */
const READ_CHARS = MAX_TEXT_CHARS * 2;
/**
 * Of a text cut at READ_CHARS, this much of the end of its redacted copy is dropped as well: a
 * value the cut split (no longer recognisable) is never exported, however much redaction shrank
 * what came before it.
 */
const CUT_MARGIN = 256;
/** Characters one call may export in all (a collector's attribute limit is 128 KB): redaction stops reading past it. */
const MAX_TOTAL_CHARS = 96_000;
const CUT = '…[truncated]';

type Part = Record<string, unknown> & { type: string };
interface Message {
  role: string;
  parts: Part[];
  finish_reason?: string;
}

/** The content attributes of a call: only those it has, each a JSON string (structured attributes are not on spans yet). */
export function contentAttributes(c: ObservedCall, redact: (text: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  let left = MAX_TOTAL_CHARS;
  const clean = (text: string) => {
    if (left <= 0) return CUT;
    const cut = text.length > READ_CHARS;
    const redacted = redact(cut ? text.slice(0, READ_CHARS) : text);
    const kept = bound(cut ? redacted.slice(0, Math.max(0, redacted.length - CUT_MARGIN)) + CUT : redacted, Math.min(MAX_TEXT_CHARS, left));
    left -= kept.length;
    return kept;
  };
  if (c.read) {
    const prompt = c.read.prompt();
    const system = instructions(prompt, clean);
    if (system.length > 0) out['gen_ai.system_instructions'] = JSON.stringify(system);
    const input = inputMessages(prompt, clean);
    if (input.length > 0) out['gen_ai.input.messages'] = JSON.stringify(input);
  }
  const output = outputMessages(c, clean);
  if (output.length > 0) out['gen_ai.output.messages'] = JSON.stringify(output);
  return out;
}

function bound(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + CUT : text;
}

/** The request's stop sequences (`stop`, Anthropic's `stop_sequences`): at most 16, each cut at 200 characters. */
export function stopSequences(body: Record<string, unknown> | null): string[] {
  const stop = body?.stop ?? body?.stop_sequences;
  const list = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string') : [];
  return list.slice(0, 16).map((s) => s.slice(0, 200));
}

function instructions(p: PromptParts, clean: (t: string) => string): Part[] {
  return p.instructions ? partsOf(p.instructions.parts, clean) : [];
}

function inputMessages(p: PromptParts, clean: (t: string) => string): Message[] {
  // Only the messages kept are read (redaction is the cost here).
  const messages: Message[] = p.messages.slice(-MAX_MESSAGES).map((m) => {
    const parts = partsOf(m.parts, clean);
    // A tool message is the answer to a call: its text is the call's result.
    if (m.role === 'tool' && m.callId !== undefined)
      return { role: 'tool', parts: [{ type: 'tool_call_response', id: m.callId, result: parts.map((x) => (x.type === 'text' ? x.content : '')).join('') }] };
    return { role: m.role, parts };
  });
  // Input that is no message (a completions prompt, embeddings input, a Responses input string) is the user's.
  if (p.input.length > 0) messages.push({ role: 'user', parts: partsOf(p.input, clean) });
  return messages.slice(-MAX_MESSAGES);
}

function partsOf(parts: PromptPart[], clean: (t: string) => string): Part[] {
  const out: Part[] = [];
  const add = (p: PromptPart): void => {
    if (out.length >= MAX_PARTS) return;
    switch (p.type) {
      case 'text':
        out.push({ type: 'text', content: clean(p.text) });
        return;
      case 'thinking':
        out.push({ type: 'reasoning', content: clean(p.text) });
        return;
      case 'call':
        out.push({ type: 'tool_call', id: p.id, name: p.name, arguments: clean(typeof p.input === 'string' ? p.input : JSON.stringify(p.input ?? null)) });
        return;
      case 'result':
        out.push({
          type: 'tool_call_response',
          id: p.callId,
          result: partsOf(p.parts, clean)
            .map((x) => (x.type === 'text' ? x.content : ''))
            .join(''),
        });
        return;
      case 'image':
        // The image itself is never exported: only that there was one.
        out.push({ type: 'blob', modality: 'image' });
        return;
      case 'other':
        for (const q of p.parts) add(q);
        return;
      case 'tokens':
        return;
    }
  };
  for (const p of parts) add(p);
  return out;
}

/** The answer's outputs, one message per choice (or content index), with its finish reason where the answer gave one. */
function outputMessages(c: ObservedCall, clean: (t: string) => string): Message[] {
  const body = c.answerBody;
  const reasons = c.answer?.finishReasons ?? [];
  if (typeof body === 'string') return body === '' ? [] : [withReason({ role: 'assistant', parts: [{ type: 'text', content: clean(body) }] }, reasons[0])];
  if (body === null || typeof body !== 'object' || !c.read) return [];
  const byIndex = new Map<number, Message>();
  for (const o of c.read.output(body)) {
    let m = byIndex.get(o.index);
    if (!m) {
      if (byIndex.size >= MAX_MESSAGES) continue;
      byIndex.set(o.index, (m = { role: 'assistant', parts: [] }));
    }
    if (m.parts.length >= MAX_PARTS) continue;
    m.parts.push(o.kind === 'json' ? { type: 'tool_call', arguments: clean(o.text) } : { type: 'text', content: clean(o.text) });
  }
  // Chat's choices are its indices; another wire's indices are blocks of one answer.
  if (c.endpoint === 'chat' || c.endpoint === 'completions') return [...byIndex.entries()].map(([i, m]) => withReason(m, reasons[i]));
  const messages = [...byIndex.values()];
  return messages.length === 0 ? [] : [withReason({ role: 'assistant', parts: messages.flatMap((m) => m.parts).slice(0, MAX_PARTS) }, reasons[0])];
}

function withReason(m: Message, reason: string | undefined): Message {
  if (reason !== undefined) m.finish_reason = reason;
  return m;
}
