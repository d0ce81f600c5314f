// An agent on the Vercel AI SDK (`ai` + `@ai-sdk/openai`): generateText with a tool, run for up to
// three steps (tool call, tool result, answer), then streamText. `openai(model)` is the Responses API.
//
//   iron-cage start examples/node-ai-sdk/agent.mjs --budget 1
//
// The default `openai` provider reads OPENAI_BASE_URL and OPENAI_API_KEY, which iron-cage sets to
// its gateway and a run token: nothing in this file knows about Iron Cage.
import { openai } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

const model = openai('gpt-4o-mini');
const tools = {
  get_weather: tool({
    description: 'The current weather in a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => ({ city, temperature_c: 21, sky: 'clear' }),
  }),
};

const result = await generateText({ model, tools, stopWhen: stepCountIs(3), prompt: 'What is the weather in Paris? Use the get_weather tool.' });
for (const step of result.steps) {
  for (const call of step.toolResults) console.log(`tool ${call.toolName}(${JSON.stringify(call.input)}) -> ${JSON.stringify(call.output)}`);
}
console.log(`answer: ${result.text}`);

// A streamed answer, written as it arrives.
const streamed = streamText({ model, prompt: 'In one sentence: what should I wear in Paris today?' });
process.stdout.write('streamed: ');
for await (const text of streamed.textStream) process.stdout.write(text);
process.stdout.write('\n');
