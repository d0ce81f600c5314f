import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the scripted upstream answers, on every wire. */
export const TEXT = 'The lead fits the Cost line: budgets, alerts and attribution for their agents.';

/**
 * A stand-in for a real provider on loopback that speaks every wire the gateway forwards
 * (chat, embeddings, Anthropic messages, Responses), whole or streamed: it answers TEXT with the
 * usage block it is given, raw (a field may be left out), and records what it was sent.
 */
export class ScriptedUpstream {
  readonly bodies: any[] = [];
  usage: Record<string, unknown> = {};
  /** Anthropic streams: message_start's usage (message_delta carries `usage`). */
  startUsage: Record<string, unknown> = {};
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const c of req) raw += c;
    const body = JSON.parse(raw);
    this.bodies.push(body);
    const path = req.url ?? '';
    const words = TEXT.match(/\S+\s*/g)!;
    const send = (events: Array<[string | null, unknown]>) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [event, data] of events) res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
      res.end();
    };
    const json = (data: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(data));
    if (path.endsWith('/embeddings')) return json({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: body.model, usage: this.usage });
    if (path.endsWith('/chat/completions')) {
      const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: body.model };
      if (!body.stream) return json({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }], usage: this.usage });
      return send([
        ...words.map((w): [null, unknown] => [null, { ...base, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] }]),
        [null, { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }],
        [null, { ...base, choices: [], usage: this.usage }],
        [null, '[DONE]'],
      ]);
    }
    if (path.endsWith('/messages')) {
      const message = { id: 'msg_1', type: 'message', role: 'assistant', model: body.model, stop_reason: 'end_turn', stop_sequence: null };
      if (!body.stream) return json({ ...message, content: [{ type: 'text', text: TEXT }], usage: this.usage });
      return send([
        ['message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: this.startUsage } }],
        ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
        ...words.map((w): [string, unknown] => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: w } }]),
        ['content_block_stop', { type: 'content_block_stop', index: 0 }],
        ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: this.usage }],
        ['message_stop', { type: 'message_stop' }],
      ]);
    }
    const item = { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], text: TEXT }] };
    return json({ id: 'resp_1', object: 'response', created_at: 1, status: 'completed', model: body.model, output: [item], usage: this.usage });
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
