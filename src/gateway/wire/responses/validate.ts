import { MAX_OUTPUT_TOKENS } from '../openai/wire.js';
import { schemaProblem } from '../schema.js';

// The checks OpenAI makes on a Responses API body before it runs a model, with its wording, so
// a bad request is refused here (nothing reserved, nothing charged) the way the provider would.

/** Every input item type OpenAI accepts; an `item_reference` is replaced by its stored item before it is passed on. */
const ITEM_TYPES = [
  'message',
  'function_call',
  'function_call_output',
  'reasoning',
  'item_reference',
  'file_search_call',
  'computer_call',
  'computer_call_output',
  'web_search_call',
  'image_generation_call',
  'code_interpreter_call',
  'local_shell_call',
  'local_shell_call_output',
  'shell_call',
  'shell_call_output',
  'apply_patch_call',
  'apply_patch_call_output',
  'mcp_list_tools',
  'mcp_approval_request',
  'mcp_approval_response',
  'mcp_call',
  'custom_tool_call',
  'custom_tool_call_output',
  'tool_search_call',
  'tool_search_output',
  'additional_tools',
  'compaction',
  'compaction_trigger',
  'program',
  'program_output',
];
const TOOL_TYPES = [
  'function',
  'file_search',
  'computer',
  'computer_use_preview',
  'web_search',
  'web_search_preview',
  'web_search_preview_2025_03_11',
  'web_search_2025_08_26',
  'mcp',
  'code_interpreter',
  'image_generation',
  'local_shell',
  'shell',
  'custom',
  'namespace',
  'tool_search',
  'apply_patch',
  'programmatic_tool_calling',
];
const ROLES = ['user', 'assistant', 'system', 'developer'];
const PART_TYPES = ['input_text', 'input_image', 'input_file', 'input_audio', 'output_text', 'refusal'];
const FORMAT_TYPES = ['text', 'json_object', 'json_schema'];
const TOOL_CHOICES = ['none', 'auto', 'required'];
/** OpenAI's rule for function and schema names. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** The smallest `max_output_tokens` OpenAI accepts on this endpoint. */
const MIN_OUTPUT_TOKENS = 16;

/** Chat Completions parameters the Responses API does not have (OpenAI: "Unknown parameter"). */
const CHAT_ONLY = ['messages', 'n', 'best_of', 'max_tokens', 'max_completion_tokens', 'response_format', 'functions', 'function_call', 'logprobs', 'stop'];

/** OpenAI's answer to both: a conversation holds its own state, a previous response its own. */
const BOTH_STATES = "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.";

type Body = Record<string, unknown>;
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown) => v !== undefined && v !== null;
const list = (xs: string[]) =>
  `${xs
    .slice(0, -1)
    .map((x) => `'${x}'`)
    .join(', ')}, and '${xs.at(-1)}'`;
const badValue = (where: string, v: unknown, allowed: string[]) => `Invalid value for '${where}': ${JSON.stringify(v)}. Supported values are: ${list(allowed)}.`;
const missing = (where: string) => `Missing required parameter: '${where}'.`;

function range(b: Body, k: string, min: number, max: number, int = false): string | null {
  const v = b[k];
  if (!given(v)) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v))) return `Invalid type for '${k}': expected ${int ? 'an integer' : 'a number'}.`;
  if (v < min) return `Invalid '${k}': ${int ? 'integer' : 'decimal'} below minimum value. Expected a value >= ${min}, but got ${v} instead.`;
  if (v > max) return `Invalid '${k}': ${int ? 'integer' : 'decimal'} above maximum value. Expected a value <= ${max}, but got ${v} instead.`;
  return null;
}

function content(c: unknown, at: string): string | null {
  if (typeof c === 'string') return null;
  if (!Array.isArray(c)) return `Invalid type for '${at}': expected a string or an array of content parts.`;
  for (let j = 0; j < c.length; j++) {
    const p = c[j];
    if (!isObject(p)) return `Invalid type for '${at}[${j}]': expected an object.`;
    if (!PART_TYPES.includes(p.type as string)) return badValue(`${at}[${j}].type`, p.type, PART_TYPES);
    if ((p.type === 'input_text' || p.type === 'output_text') && typeof p.text !== 'string') return missing(`${at}[${j}].text`);
  }
  return null;
}

/**
 * What OpenAI would refuse in one input item at `at` (`input[3]`, `items[0]`), or null.
 * @example inputItemProblem({ type: 'telepathy' }, 'items[0]') // "Invalid value for 'items[0].type': ..."
 */
export function inputItemProblem(it: unknown, at: string): string | null {
  if (!isObject(it)) return `Invalid type for '${at}': expected an object.`;
  // An item without `type` is a message when it has a role (EasyInputMessage).
  const type = it.type ?? (it.role !== undefined ? 'message' : undefined);
  if (type === undefined) return missing(`${at}.type`);
  if (typeof type !== 'string' || !ITEM_TYPES.includes(type)) return badValue(`${at}.type`, type, ITEM_TYPES);
  switch (type) {
    case 'message':
      if (!ROLES.includes(it.role as string)) return badValue(`${at}.role`, it.role, ROLES);
      return content(it.content, `${at}.content`);
    case 'function_call':
      for (const k of ['call_id', 'name', 'arguments']) if (typeof it[k] !== 'string') return missing(`${at}.${k}`);
      return null;
    case 'function_call_output':
      // The output of a call the model made names it by call_id; one the client writes of its own
      // names itself instead (Codex CLI's goal: `name: 'goal_objective', namespace: 'agent'`).
      if (typeof it.call_id !== 'string' && typeof it.name !== 'string') return missing(`${at}.call_id`);
      if (typeof it.output !== 'string' && !Array.isArray(it.output)) return `Invalid type for '${at}.output': expected a string or an array of content parts.`;
      return null;
    case 'reasoning':
      return Array.isArray(it.summary) ? null : missing(`${at}.summary`);
    case 'computer_call':
    case 'computer_call_output':
    case 'custom_tool_call_output':
      return typeof it.call_id === 'string' ? null : missing(`${at}.call_id`);
    case 'item_reference':
      return typeof it.id === 'string' && it.id !== '' ? null : missing(`${at}.id`);
    default:
      return null;
  }
}

function input(b: Body): string | null {
  if (b.input === undefined || b.input === null) return missing('input');
  if (typeof b.input === 'string') return null;
  if (!Array.isArray(b.input)) return "Invalid type for 'input': expected a string or an array of input items.";
  if (b.input.length === 0) return "Invalid 'input': empty array. Expected an array with minimum length 1.";
  for (let i = 0; i < b.input.length; i++) {
    const bad = inputItemProblem(b.input[i], `input[${i}]`);
    if (bad) return bad;
  }
  return null;
}

function tools(b: Body): string | null {
  if (!given(b.tools)) return null;
  if (!Array.isArray(b.tools)) return "Invalid type for 'tools': expected an array.";
  for (let i = 0; i < b.tools.length; i++) {
    const t = b.tools[i];
    if (!isObject(t)) return `Invalid type for 'tools[${i}]': expected an object.`;
    if (!TOOL_TYPES.includes(t.type as string)) return badValue(`tools[${i}].type`, t.type, TOOL_TYPES);
    if (t.type !== 'function') continue;
    // The Chat Completions shape ({type, function: {...}}) is the usual mistake here.
    if (t.name === undefined) return missing(`tools[${i}].name`);
    if (typeof t.name !== 'string' || !NAME.test(t.name)) return `Invalid 'tools[${i}].name': ${JSON.stringify(t.name)}. Expected a string of letters, digits, underscores or dashes, at most 64 long.`;
    if (given(t.strict) && typeof t.strict !== 'boolean') return `Invalid type for 'tools[${i}].strict': expected a boolean.`;
    if (given(t.parameters)) {
      const bad = schemaProblem(t.parameters, `function '${t.name}'`, { strict: t.strict === true });
      if (bad) return bad;
    }
  }
  return null;
}

function toolChoice(b: Body): string | null {
  const c = b.tool_choice;
  if (!given(c)) return null;
  if (typeof c === 'string') return TOOL_CHOICES.includes(c) ? null : badValue('tool_choice', c, TOOL_CHOICES);
  if (!isObject(c) || typeof c.type !== 'string') return "Invalid type for 'tool_choice': expected 'none', 'auto', 'required' or an object with a 'type'.";
  if (c.type !== 'function') return null;
  if (typeof c.name !== 'string') return missing('tool_choice.name');
  const names = Array.isArray(b.tools) ? b.tools.map((t) => (isObject(t) ? t.name : undefined)) : [];
  return names.includes(c.name) ? null : `Invalid 'tool_choice': function '${c.name}' is not among the functions in 'tools'.`;
}

function textFormat(b: Body): string | null {
  if (!given(b.text)) return null;
  if (!isObject(b.text)) return "Invalid type for 'text': expected an object.";
  const f = b.text.format;
  if (!given(f)) return null;
  if (!isObject(f)) return "Invalid type for 'text.format': expected an object.";
  if (!FORMAT_TYPES.includes(f.type as string)) return badValue('text.format.type', f.type, FORMAT_TYPES);
  if (f.type === 'json_object') {
    // OpenAI's own guard against a model told to answer in JSON without being asked to.
    const said = JSON.stringify([b.input, b.instructions ?? null])
      .toLowerCase()
      .includes('json');
    return said ? null : "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.";
  }
  if (f.type !== 'json_schema') return null;
  if (f.name === undefined) return missing('text.format.name');
  if (typeof f.name !== 'string' || !NAME.test(f.name)) return `Invalid 'text.format.name': ${JSON.stringify(f.name)}. Expected a string of letters, digits, underscores or dashes, at most 64 long.`;
  if (f.schema === undefined) return missing('text.format.schema');
  if (given(f.strict) && typeof f.strict !== 'boolean') return "Invalid type for 'text.format.strict': expected a boolean.";
  return schemaProblem(f.schema, `response_format '${f.name}'`, { strict: f.strict === true });
}

/**
 * What OpenAI would refuse in a Responses API body (after the checks every OpenAI endpoint
 * shares), or null. `previous_response_id`, `conversation` and item references are resolved later,
 * from what the cage keeps (responses-state.ts, conversations.ts); background runs are refused
 * with what to do instead.
 * @example validateResponses({ model: 'gpt-4o', input: 'hi', conversation: 'conv_1', previous_response_id: 'resp_1' }) // "Mutually exclusive parameters: ..."
 */
export function validateResponses(b: Body): string | null {
  const chat = CHAT_ONLY.find((k) => b[k] !== undefined);
  if (chat) return `Unknown parameter: '${chat}'.${chat === 'n' ? ' The Responses API gives one answer per request.' : ''}`;
  if (given(b.previous_response_id) && (typeof b.previous_response_id !== 'string' || b.previous_response_id === '')) return "Invalid type for 'previous_response_id': expected a non-empty string.";
  if (given(b.conversation)) {
    const c = b.conversation;
    const id = isObject(c) ? c.id : c;
    if (typeof id !== 'string' || id === '') return "Invalid type for 'conversation': expected a conversation id (a string) or an object with an 'id'.";
    if (given(b.previous_response_id)) return BOTH_STATES;
  }
  if (b.background === true) {
    return "Iron Cage does not run background responses: one runs on after the request has returned, outside the budget check and the output redaction every call gets while the agent waits for it. Leave 'background' unset, and stream the response if it is long.";
  }
  if (given(b.instructions) && typeof b.instructions !== 'string') return "Invalid type for 'instructions': expected a string.";
  for (const k of ['store', 'parallel_tool_calls']) if (given(b[k]) && typeof b[k] !== 'boolean') return `Invalid type for '${k}': expected a boolean.`;
  if (given(b.include) && (!Array.isArray(b.include) || b.include.some((x) => typeof x !== 'string'))) return "Invalid type for 'include': expected an array of strings.";
  return (
    range(b, 'max_output_tokens', MIN_OUTPUT_TOKENS, MAX_OUTPUT_TOKENS, true) ??
    range(b, 'top_logprobs', 0, 20, true) ??
    range(b, 'temperature', 0, 2) ??
    range(b, 'top_p', 0, 1) ??
    input(b) ??
    tools(b) ??
    toolChoice(b) ??
    textFormat(b)
  );
}
