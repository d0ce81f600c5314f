/**
 * Parameters the real providers refuse, refused here the same way (their wording, their 400)
 * before anything is reserved, so an agent developed against the gateway meets the provider's
 * rules early and a refused request costs nothing. Used by each wire's `validate()`.
 */
import { schemaDetail, schemaProblem } from './schema.js';

type Body = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);
const supported = (xs: string[]) =>
  `${xs
    .slice(0, -1)
    .map((x) => `'${x}'`)
    .join(', ')}${xs.length > 2 ? ',' : ''} and '${xs.at(-1)}'`;
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * OpenAI's check of a number in a range, in its words: every message names the bound broken.
 * @example openaiNumber({ n: 0 }, 'n', 1, 128, true) // "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."
 */
export function openaiNumber(b: Body, key: string, min: number, max: number, integer = false): string | null {
  const v = b[key];
  if (v === undefined || v === null) return null;
  const what = integer ? 'integer' : 'decimal';
  if (typeof v !== 'number' || (integer && !Number.isInteger(v))) return `Invalid type for '${key}': expected ${integer ? 'an integer' : 'a decimal'}, but got ${kind(v)} instead.`;
  if (v > max) return `Invalid '${key}': ${what} above maximum value. Expected a value <= ${max}, but got ${v} instead.`;
  if (v < min) return `Invalid '${key}': ${what} below minimum value. Expected a value >= ${min}, but got ${v} instead.`;
  return null;
}

function openaiFormat(f: unknown): string | null {
  if (f === undefined || f === null) return null;
  if (!isObject(f)) return `Invalid type for 'response_format': expected an object, but got ${kind(f)} instead.`;
  const types = ['json_object', 'json_schema', 'text'];
  if (f.type === undefined) return "Missing required parameter: 'response_format.type'.";
  if (typeof f.type !== 'string' || !types.includes(f.type)) return `Invalid value: ${JSON.stringify(f.type).replace(/"/g, "'")}. Supported values are: ${supported(types)}.`;
  if (f.type !== 'json_schema') return null;
  const js = f.json_schema;
  if (js === undefined) return "Missing required parameter: 'response_format.json_schema'.";
  if (!isObject(js)) return `Invalid type for 'response_format.json_schema': expected an object, but got ${kind(js)} instead.`;
  if (js.name === undefined) return "Missing required parameter: 'response_format.json_schema.name'.";
  if (typeof js.name !== 'string' || !FUNCTION_NAME.test(js.name))
    return `Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`;
  if (js.schema === undefined) return null;
  return schemaProblem(js.schema, `response_format '${js.name}'`, { strict: js.strict === true });
}

function openaiTools(tools: unknown): { problem: string | null; names: string[] } {
  const names: string[] = [];
  if (tools === undefined || tools === null) return { problem: null, names };
  if (!Array.isArray(tools)) return { problem: `Invalid type for 'tools': expected an array, but got ${kind(tools)} instead.`, names };
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i];
    const at = `tools[${i}]`;
    if (!isObject(t)) return { problem: `Invalid type for '${at}': expected an object, but got ${kind(t)} instead.`, names };
    if (t.type === undefined) return { problem: `Missing required parameter: '${at}.type'.`, names };
    if (t.type === 'custom') continue;
    if (t.type !== 'function') return { problem: `Invalid value: ${JSON.stringify(t.type).replace(/"/g, "'")}. Supported values are: 'function' and 'custom'.`, names };
    const fn = t.function;
    if (!isObject(fn)) return { problem: `Missing required parameter: '${at}.function'.`, names };
    if (fn.name === undefined) return { problem: `Missing required parameter: '${at}.function.name'.`, names };
    if (typeof fn.name !== 'string' || !FUNCTION_NAME.test(fn.name))
      return { problem: `Invalid '${at}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`, names };
    names.push(fn.name);
    if (fn.parameters !== undefined) {
      const p = schemaProblem(fn.parameters, `function '${fn.name}'`, { strict: fn.strict === true });
      if (p) return { problem: p, names };
    }
  }
  return { problem: null, names };
}

function openaiToolChoice(tc: unknown, names: string[], hasTools: boolean): string | null {
  if (tc === undefined || tc === null) return null;
  const choices = ['none', 'auto', 'required'];
  if (typeof tc === 'string') {
    if (!choices.includes(tc)) return `Invalid value: '${tc}'. Supported values are: ${supported(choices)}.`;
    return tc === 'required' && !hasTools ? "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified." : null;
  }
  if (!isObject(tc)) return `Invalid type for 'tool_choice': expected a string or an object, but got ${kind(tc)} instead.`;
  if (tc.type !== 'function') return null; // allowed_tools, custom: shapes we pass through
  const name = isObject(tc.function) ? tc.function.name : undefined;
  if (typeof name !== 'string') return "Missing required parameter: 'tool_choice.function.name'.";
  if (!hasTools) return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.";
  return names.includes(name) ? null : `Invalid value for 'tool_choice': function '${name}' is not one of the functions in 'tools'.`;
}

/**
 * What OpenAI would refuse in a chat or legacy completions body, in its words, or null.
 * @example openaiParamsProblem('chat', { temperature: 5 }) // "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead."
 */
export function openaiParamsProblem(endpoint: 'chat' | 'completions', b: Body): string | null {
  const chat = endpoint === 'chat';
  const ranges: Array<string | null> = [
    openaiNumber(b, 'temperature', 0, 2),
    openaiNumber(b, 'top_p', 0, 1),
    openaiNumber(b, 'presence_penalty', -2, 2),
    openaiNumber(b, 'frequency_penalty', -2, 2),
    chat ? openaiNumber(b, 'top_logprobs', 0, 20, true) : openaiNumber(b, 'logprobs', 0, 5, true),
  ];
  const range = ranges.find((p) => p !== null);
  if (range) return range;
  if (!chat) return null;
  if (b.logprobs !== undefined && b.logprobs !== null && typeof b.logprobs !== 'boolean') return `Invalid type for 'logprobs': expected a boolean, but got ${kind(b.logprobs)} instead.`;
  if (typeof b.top_logprobs === 'number' && b.logprobs !== true) return "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.";
  if (b.parallel_tool_calls !== undefined && b.parallel_tool_calls !== null && typeof b.parallel_tool_calls !== 'boolean')
    return `Invalid type for 'parallel_tool_calls': expected a boolean, but got ${kind(b.parallel_tool_calls)} instead.`;
  const format = openaiFormat(b.response_format);
  if (format) return format;
  const { problem, names } = openaiTools(b.tools);
  return problem ?? openaiToolChoice(b.tool_choice, names, Array.isArray(b.tools) && b.tools.length > 0);
}

/** Anthropic's range check, in its (pydantic) words. */
/**
 * Anthropic's check of a number in a range, in its words (pydantic's): every message names the bound broken.
 * @example anthropicNumber({ max_tokens: 0 }, 'max_tokens', 1, 10, true) // 'max_tokens: Input should be greater than or equal to 1'
 */
export function anthropicNumber(b: Body, key: string, min: number, max: number, integer = false): string | null {
  const v = b[key];
  if (v === undefined) return null;
  if (typeof v !== 'number') return `${key}: Input should be a valid ${integer ? 'integer' : 'number'}`;
  if (integer && !Number.isInteger(v)) return `${key}: Input should be a valid integer, got a number with a fractional part`;
  if (v > max) return `${key}: Input should be less than or equal to ${max}`;
  if (v < min) return `${key}: Input should be greater than or equal to ${min}`;
  return null;
}

/** OpenAI parameters Anthropic does not have: it refuses them rather than ignore them. */
const NOT_ANTHROPIC = ['n', 'logprobs', 'top_logprobs', 'response_format', 'frequency_penalty', 'presence_penalty', 'logit_bias'];
const SCHEMA_INVALID =
  'JSON schema is invalid. It must match JSON Schema draft 2020-12 (https://json-schema.org/draft/2020-12). Learn more about tool use at https://docs.anthropic.com/en/docs/tool-use.';

function anthropicTools(tools: unknown): { problem: string | null; names: string[] } {
  const names: string[] = [];
  if (tools === undefined) return { problem: null, names };
  if (!Array.isArray(tools)) return { problem: 'tools: Input should be a valid list', names };
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i];
    if (!isObject(t)) return { problem: `tools.${i}: Input should be a valid dictionary`, names };
    // Server tools (web search, bash, text editor...) carry a versioned `type` and no schema.
    if (t.type !== undefined && t.type !== 'custom') {
      if (typeof t.name === 'string') names.push(t.name);
      continue;
    }
    const at = `tools.${i}.custom`;
    if (t.name === undefined) return { problem: `${at}.name: Field required`, names };
    if (typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) return { problem: `${at}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`, names };
    names.push(t.name);
    if (t.input_schema === undefined) return { problem: `${at}.input_schema: Field required`, names };
    const detail = schemaDetail(t.input_schema);
    if (detail) return { problem: `${at}.input_schema: ${SCHEMA_INVALID} (${detail})`, names };
  }
  return { problem: null, names };
}

function anthropicToolChoice(tc: unknown, names: string[], hasTools: boolean): string | null {
  if (tc === undefined) return null;
  if (!isObject(tc)) return 'tool_choice: Input should be a valid dictionary';
  const types = ['auto', 'any', 'tool', 'none'];
  if (typeof tc.type !== 'string' || !types.includes(tc.type)) return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'";
  if (tc.type === 'tool' && typeof tc.name !== 'string') return 'tool_choice.tool.name: Field required';
  if ((tc.type === 'any' || tc.type === 'tool') && !hasTools) return 'tool_choice may only be specified while providing tools.';
  if (tc.type === 'tool' && !names.includes(tc.name as string)) return `tool_choice.tool.name: Tool '${tc.name}' was not found in 'tools'.`;
  return null;
}

function anthropicFormat(b: Body): string | null {
  const where = isObject(b.output_config) && b.output_config.format !== undefined ? 'output_config.format' : b.output_format !== undefined ? 'output_format' : null;
  if (where === null) return null;
  const f = where === 'output_format' ? b.output_format : (b.output_config as Body).format;
  if (!isObject(f)) return `${where}: Input should be a valid dictionary`;
  if (f.type !== 'json_schema') return `${where}.type: Input should be 'json_schema'`;
  if (f.schema === undefined) return `${where}.schema: Field required`;
  const detail = schemaDetail(f.schema);
  return detail ? `${where}.schema: ${SCHEMA_INVALID.replace(/ Learn more.*$/, '')} (${detail})` : null;
}

/**
 * What Anthropic would refuse in a messages body, in its words, or null.
 * @example anthropicParamsProblem({ temperature: 1.5 }) // 'temperature: Input should be less than or equal to 1'
 */
export function anthropicParamsProblem(b: Body): string | null {
  const extra = NOT_ANTHROPIC.find((k) => b[k] !== undefined);
  if (extra) return `${extra}: Extra inputs are not permitted`;
  const range = anthropicNumber(b, 'temperature', 0, 1) ?? anthropicNumber(b, 'top_p', 0, 1);
  if (range) return range;
  const topK = anthropicNumber(b, 'top_k', 0, Number.MAX_SAFE_INTEGER, true);
  if (topK) return topK;
  if (b.stop_sequences !== undefined && (!Array.isArray(b.stop_sequences) || b.stop_sequences.some((s) => typeof s !== 'string'))) return 'stop_sequences: Input should be a valid list of strings';
  const { problem, names } = anthropicTools(b.tools);
  return problem ?? anthropicToolChoice(b.tool_choice, names, Array.isArray(b.tools) && b.tools.length > 0) ?? anthropicFormat(b);
}
