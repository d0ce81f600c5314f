// An agent on the OpenAI Agents SDK (`@openai/agents`): an Agent with a tool, run to its answer,
// then a streamed run. The SDK speaks the Responses API.
//
//   iron-cage start examples/node-openai-agents/agent.mjs --budget 1
//
// The SDK builds its OpenAI client from OPENAI_BASE_URL and OPENAI_API_KEY, which iron-cage sets
// to its gateway and a run token. Its traces would go straight to OpenAI, past the cage (and
// nowhere offline): they are turned off.
import { Agent, run, setTracingDisabled, tool } from '@openai/agents';
import { z } from 'zod';

setTracingDisabled(true);

const getWeather = tool({
  name: 'get_weather',
  description: 'The current weather in a city',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    const result = { city, temperature_c: 21, sky: 'clear' };
    console.log(`tool get_weather(${JSON.stringify({ city })}) -> ${JSON.stringify(result)}`);
    return JSON.stringify(result);
  },
});

const agent = new Agent({ name: 'weather', instructions: 'Answer briefly; use your tools.', model: 'gpt-4o-mini', tools: [getWeather] });

// The run calls the model, runs the tool it asks for, and calls the model again for the answer.
const result = await run(agent, 'What is the weather in Paris? Use the get_weather tool.', { maxTurns: 4 });
console.log(`answer: ${result.finalOutput}`);

// A streamed run, written as it arrives.
const streamed = await run(agent, 'In one sentence: what should I wear in Paris today?', { stream: true });
process.stdout.write('streamed: ');
for await (const text of streamed.toTextStream()) process.stdout.write(text);
await streamed.completed;
process.stdout.write('\n');
