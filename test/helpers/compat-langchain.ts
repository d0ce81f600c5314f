import { expect } from 'vitest';
import { HumanMessage, ToolMessage, type AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import type { Runnable } from '@langchain/core/runnables';
import { tool } from '@langchain/core/tools';
import { WEATHER } from './compat.js';

/** The weather tool as a LangChain tool, answering from WEATHER.result. */
export const weather = tool(async ({ city }) => JSON.stringify(WEATHER.result(city)), {
  name: WEATHER.name,
  description: WEATHER.description,
  schema: WEATHER.args,
});

/**
 * The loop a LangChain agent runs: invoke, run each tool call as a ToolMessage, invoke again, at
 * most 3 steps; the final text, or null if the model never stopped calling tools.
 */
export async function toolLoop(model: Runnable<BaseMessage[], AIMessageChunk>): Promise<string | null> {
  const messages: BaseMessage[] = [new HumanMessage(WEATHER.prompt)];
  for (let step = 0; step < 3; step++) {
    const ai = await model.invoke(messages);
    messages.push(ai);
    if (!ai.tool_calls?.length) return ai.text;
    for (const call of ai.tool_calls) {
      expect(call.name).toBe(WEATHER.name);
      expect(call.args).toEqual({ city: expect.any(String) });
      messages.push(new ToolMessage({ tool_call_id: call.id!, content: await weather.invoke(call.args as { city: string }) }));
    }
  }
  return null;
}
