import type { JSONRPCMessage, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';

// A JSON-RPC 2.0 message as MCP carries it, told apart by its shape. The transports check each
// message they take in this way rather than through the SDK's zod schemas: the SDK's Client and
// Server still validate what each request's handler and each result's caller read.

/** A request's id as the SDK's schema takes one: a string or a whole number. */
function isId(v: unknown): v is RequestId {
  return typeof v === 'string' || Number.isSafeInteger(v);
}

/** The members each kind may have, and no other (as the SDK's schemas: a message with more is none of them). */
const REQUEST = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESULT = new Set(['jsonrpc', 'id', 'result']);
const ERROR = new Set(['jsonrpc', 'id', 'error']);
const only = (m: Record<string, unknown>, keys: Set<string>) => Object.keys(m).every((k) => keys.has(k));

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A request, a notification, a result or an error, each whole. */
export function isJsonRpcMessage(m: unknown): m is JSONRPCMessage {
  if (!isObject(m) || m.jsonrpc !== '2.0') return false;
  if (typeof m.method === 'string') return only(m, REQUEST) && (m.id === undefined || isId(m.id)) && (m.params === undefined || isObject(m.params));
  if ('result' in m) return only(m, RESULT) && isId(m.id) && isObject(m.result);
  return only(m, ERROR) && (isId(m.id) || m.id === null || m.id === undefined) && isObject(m.error) && Number.isSafeInteger(m.error.code) && typeof m.error.message === 'string';
}

/** A request: it has a method and an id, and waits for an answer. */
export function isRequest(m: JSONRPCMessage): m is JSONRPCRequest {
  return 'method' in m && 'id' in m && m.id !== undefined;
}

/** A result or an error: the answer to a request. */
export function isResponse(m: JSONRPCMessage): boolean {
  return !('method' in m) && ('result' in m || 'error' in m);
}

/**
 * An error answer without the SDK's `MCP error <code>: ` at the start of its message: the SDK's
 * McpError puts it there, and the client reading the answer puts it there again
 * (`MCP error -32603: MCP error -32603: …`). Any other message is returned as it is.
 */
export function withoutCodePrefix(m: JSONRPCMessage): JSONRPCMessage {
  if (!('error' in m) || !isObject(m.error)) return m;
  const prefix = `MCP error ${m.error.code}: `;
  if (typeof m.error.message !== 'string' || !m.error.message.startsWith(prefix)) return m;
  return { ...m, error: { ...m.error, message: m.error.message.slice(prefix.length) } };
}
