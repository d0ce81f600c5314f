// The official MCP TypeScript SDK (@modelcontextprotocol/sdk), loaded on first use: a runtime
// with no MCP server configured never reads it (it is large: its transports, zod schemas, ajv).

export type Sdk = Awaited<ReturnType<typeof load>>;

async function load() {
  // Streamable HTTP, both ways, is carried by the cage's own transports (agent-transport.ts, http-upstream.ts).
  const [server, client, clientSse, clientStdio, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/index.js'),
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/sse.js'),
    import('@modelcontextprotocol/sdk/client/stdio.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  return {
    Server: server.Server,
    Client: client.Client,
    SSEClientTransport: clientSse.SSEClientTransport,
    StdioClientTransport: clientStdio.StdioClientTransport,
    types,
  };
}

let loading: Promise<Sdk> | null = null;

/** The SDK's modules, imported once. */
export function mcpSdk(): Promise<Sdk> {
  loading ??= load();
  return loading;
}
