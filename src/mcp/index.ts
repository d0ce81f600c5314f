// MCP through the cage (`/mcp/<server>`): every tool an agent reaches over the Model Context
// Protocol is allowed or refused by its server's rules, scanned for PII both ways, scrubbed of
// the credentials the cage sends, bounded in time and size, guarded by a breaker and recorded.
// The protocol itself is the official SDK's (@modelcontextprotocol/sdk); this folder is the cage.

export { MCP_PREFIX, mcpService } from './mcp.service.js';
export type { McpBreakerView, McpOffer, McpServersResponse, McpServerView, McpToolView } from './mcp.routes.js';
