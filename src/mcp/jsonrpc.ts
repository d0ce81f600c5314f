import type { JSONRPCMessage, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';

// A JSON-RPC 2.0 message as MCP carries it, told apart by its shape. The transports check each
// message they take in this way rather than through the SDK's zod schemas: the SDK's Client and
// Server still validate what each request's handler and each result's caller read.

function isId(v: unknown): v is RequestId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A request, a notification, a result or an error, each whole. */
export function isJsonRpcMessage(m: unknown): m is JSONRPCMessage {
  if (!isObject(m) || m.jsonrpc !== '2.0') return false;
  if (typeof m.method === 'string') return (m.id === undefined || isId(m.id)) && (m.params === undefined || isObject(m.params));
  if (!isId(m.id) && !(m.id === null && 'error' in m)) return false;
  if ('result' in m) return isObject(m.result) && !('error' in m);
  return isObject(m.error) && typeof m.error.code === 'number' && typeof m.error.message === 'string';
}

/** A request: it has a method and an id, and waits for an answer. */
export function isRequest(m: JSONRPCMessage): m is JSONRPCRequest {
  return 'method' in m && 'id' in m && m.id !== undefined;
}

/** A result or an error: the answer to a request. */
export function isResponse(m: JSONRPCMessage): boolean {
  return !('method' in m) && ('result' in m || 'error' in m);
}
